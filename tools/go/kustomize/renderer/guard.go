package main

// The renderer's filesystem guard: every file kustomize reads for a request goes through it, so it
// is both the record of what a target reads (returned with the answer: the toolkit's render cache,
// --changed-only, unrendered-file and origins check their own view against it) and the one place
// that refuses what a render must never read: anything outside the repository root (also through
// a symlink), inside a .git folder, or under /proc. The network is off in this process
// (offlineTransport; the caller gives git no protocol): remote references go to the kustomize
// binary, and only when the caller allows them.

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"sigs.k8s.io/kustomize/kyaml/filesys"
)

type guardFS struct {
	filesys.FileSystem
	root     string // repository root, cleaned and with symlinks resolved
	mu       *sync.Mutex
	reads    map[string]bool // files whose content kustomize read (absolute, as kustomize named them)
	refused  map[string]string
	lexicalR string // the root as given (kustomize names paths under it)
}

func newGuard(fs filesys.FileSystem, root string) *guardFS {
	clean := filepath.Clean(root)
	real, err := filepath.EvalSymlinks(clean)
	if err != nil {
		real = clean
	}
	return &guardFS{FileSystem: fs, root: real, lexicalR: clean, mu: &sync.Mutex{}, reads: map[string]bool{}, refused: map[string]string{}}
}

func within(root, p string) bool {
	r, err := filepath.Rel(root, p)
	return err == nil && r != ".." && !strings.HasPrefix(r, ".."+string(filepath.Separator)) && !filepath.IsAbs(r)
}

func inGit(root, p string) bool {
	r, err := filepath.Rel(root, p)
	if err != nil {
		return true
	}
	for _, seg := range strings.Split(r, string(filepath.Separator)) {
		if seg == ".git" {
			return true
		}
	}
	return false
}

// check returns why `path` must not be read, or "".
func (g *guardFS) check(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "cannot be resolved"
	}
	abs = filepath.Clean(abs)
	if abs == "/proc" || strings.HasPrefix(abs, "/proc/") {
		return "is under /proc"
	}
	lexicalOK := within(g.lexicalR, abs) || within(g.root, abs)
	if !lexicalOK {
		return "is outside the repository"
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		// Missing: kustomize reports it. A dangling symlink on the way could point anywhere.
		for p := abs; within(g.lexicalR, p) && p != g.lexicalR; p = filepath.Dir(p) {
			if fi, e := os.Lstat(p); e == nil && fi.Mode()&os.ModeSymlink != 0 {
				return "is a symlink that does not resolve"
			}
		}
		if inGit(g.lexicalR, abs) {
			return "is inside the repository's .git folder"
		}
		return ""
	}
	if !within(g.root, real) {
		return "leaves the repository through a symlink"
	}
	if inGit(g.root, real) {
		return "is inside the repository's .git folder"
	}
	return ""
}

func (g *guardFS) refuse(path, why string) error {
	g.mu.Lock()
	g.refused[path] = why
	g.mu.Unlock()
	return fmt.Errorf("%s %s: the renderer reads nothing outside the repository", path, why)
}

func (g *guardFS) record(path string) {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	abs = filepath.Clean(abs)
	// Named under the real root (kustomize resolves symlinks): report it under the root as given.
	if g.root != g.lexicalR && within(g.root, abs) && !within(g.lexicalR, abs) {
		if r, err := filepath.Rel(g.root, abs); err == nil {
			abs = filepath.Join(g.lexicalR, r)
		}
	}
	g.mu.Lock()
	g.reads[abs] = true
	g.mu.Unlock()
}

func (g *guardFS) ReadFile(path string) ([]byte, error) {
	if why := g.check(path); why != "" {
		return nil, g.refuse(path, why)
	}
	data, err := g.FileSystem.ReadFile(path)
	if err == nil {
		g.record(path)
	}
	return data, err
}

func (g *guardFS) Open(path string) (filesys.File, error) {
	if why := g.check(path); why != "" {
		return nil, g.refuse(path, why)
	}
	f, err := g.FileSystem.Open(path)
	if err == nil {
		g.record(path)
	}
	return f, err
}

func (g *guardFS) IsDir(path string) bool {
	if why := g.check(path); why != "" {
		_ = g.refuse(path, why)
		return false
	}
	return g.FileSystem.IsDir(path)
}

func (g *guardFS) Exists(path string) bool {
	if why := g.check(path); why != "" {
		_ = g.refuse(path, why)
		return false
	}
	return g.FileSystem.Exists(path)
}

func (g *guardFS) ReadDir(path string) ([]string, error) {
	if why := g.check(path); why != "" {
		return nil, g.refuse(path, why)
	}
	return g.FileSystem.ReadDir(path)
}

func (g *guardFS) Glob(pattern string) ([]string, error) {
	matches, err := g.FileSystem.Glob(pattern)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range matches {
		if why := g.check(m); why != "" {
			return nil, g.refuse(m, why)
		}
		out = append(out, m)
	}
	return out, nil
}

func (g *guardFS) Walk(path string, walkFn filepath.WalkFunc) error {
	if why := g.check(path); why != "" {
		return g.refuse(path, why)
	}
	return g.FileSystem.Walk(path, walkFn)
}

func (g *guardFS) CleanedAbs(path string) (filesys.ConfirmedDir, string, error) {
	if why := g.check(path); why != "" {
		return "", "", g.refuse(path, why)
	}
	return g.FileSystem.CleanedAbs(path)
}

// Writes never happen in a build; refuse them all the same.
func (g *guardFS) WriteFile(path string, _ []byte) error { return g.refuse(path, "would be written") }
func (g *guardFS) Create(path string) (filesys.File, error) {
	return nil, g.refuse(path, "would be created")
}
func (g *guardFS) RemoveAll(path string) error { return g.refuse(path, "would be removed") }

func (g *guardFS) result() (reads []string, refused []refusal) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for p := range g.reads {
		reads = append(reads, p)
	}
	sort.Strings(reads)
	for p, why := range g.refused {
		refused = append(refused, refusal{Path: p, Why: why})
	}
	sort.Slice(refused, func(i, j int) bool { return refused[i].Path < refused[j].Path })
	return reads, refused
}

type refusal struct {
	Path string `json:"path"`
	Why  string `json:"why"`
}

// offlineTransport answers every HTTP request kustomize makes (a raw-URL resource) with an error.
type offlineTransport struct{}

var errOffline = errors.New("the renderer does not fetch from the network (remote references render with the kustomize binary, when allowed)")

func (offlineTransport) RoundTrip(*http.Request) (*http.Response, error) { return nil, errOffline }

func init() {
	http.DefaultTransport = offlineTransport{}
	http.DefaultClient = &http.Client{Transport: offlineTransport{}}
}
