package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/argoproj/argo-cd/v3/applicationset/services"
	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"github.com/argoproj/argo-cd/v3/util/git"
)

// repoContext names the repository under test: where its working tree is, which URL and
// revisions Argo CD would read it by, and its files (tracked plus untracked-but-not-ignored,
// repo-relative, as the caller lists them: what a checkout of the revision under test holds).
type repoContext struct {
	Root      string   `json:"root"`
	RepoURL   string   `json:"repoURL"`
	Revisions []string `json:"revisions"`
	Files     []string `json:"files"`
	// The namespace Argo CD runs in (its AppProjects, cluster Secrets and Applications); default argocd.
	ArgocdNamespace string `json:"argocdNamespace"`
}

func (c *repoContext) namespace() string {
	if c.ArgocdNamespace == "" {
		return "argocd"
	}
	return c.ArgocdNamespace
}

// offlineError: what the toolkit cannot evaluate offline (another repository, another revision,
// a generator that needs an SCM, a cluster or a plugin). Reported as such, not as a bad repository.
type offlineError struct{ reason string }

func (e *offlineError) Error() string { return e.reason }

// sameRepo compares repository URLs the way Argo CD does (git.SameURL: normalised, no .git).
func sameRepo(a, b string) bool {
	return a != "" && b != "" && git.SameURL(a, b)
}

func (c *repoContext) check(repoURL, revision string) error {
	if !sameRepo(repoURL, c.RepoURL) {
		return &offlineError{fmt.Sprintf("repository %q is not the repository under test (%s): it is not read offline", repoURL, c.RepoURL)}
	}
	for _, r := range c.Revisions {
		if revision == r {
			return nil
		}
	}
	return &offlineError{fmt.Sprintf("revision %q of %s is not the revision under test (%s)", revision, repoURL, strings.Join(quoted(c.Revisions), ", "))}
}

func quoted(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// worktree is the ApplicationSet git generator's view of the repository (services.Repos), over
// the revision under test instead of a repo-server checkout.
type worktree struct {
	ctx      *repoContext
	realRoot string
	files    map[string]bool
	isGit    bool
	// Files the generators read: the caller keys its caches on their contents.
	readMu sync.Mutex
	reads  map[string]bool
	// Hidden: files left out of the listing (see expand: a file that breaks its generator).
	hidden map[string]bool
}

var _ services.Repos = (*worktree)(nil)

func newWorktree(c *repoContext) (*worktree, error) {
	real, err := filepath.EvalSymlinks(c.Root)
	if err != nil {
		return nil, fmt.Errorf("repository root: %w", err)
	}
	w := &worktree{ctx: c, realRoot: real, files: map[string]bool{}, reads: map[string]bool{}}
	for _, f := range c.Files {
		w.files[f] = true
	}
	w.isGit = exec.Command("git", "-C", c.Root, "rev-parse", "--is-inside-work-tree").Run() == nil
	return w, nil
}

// GetFiles lists files like the repo-server's default (git ls-files <pattern> in the checkout:
// git's pathspec matching, where `*` also crosses `/`), over the tracked and untracked files of
// the working tree. Outside git, Argo CD's new globbing (doublestar) stands in.
func (w *worktree) GetFiles(_ context.Context, repoURL, revision, _ string, pattern string, _ bool, _ *v1alpha1.SourceIntegrity) (map[string][]byte, error) {
	if err := w.ctx.check(repoURL, revision); err != nil {
		return nil, err
	}
	var matched []string
	if w.isGit {
		// Relative to the repository root the toolkit runs in (git's top level, or a folder of it).
		cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", pattern)
		cmd.Dir = w.ctx.Root
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("error retrieving Git files: git ls-files %s: %v: %s", pattern, err, strings.TrimSpace(stderr.String()))
		}
		seen := map[string]bool{}
		for _, f := range strings.Split(string(out), "\x00") {
			if f != "" && w.files[f] && !w.hidden[f] && !seen[f] {
				seen[f] = true
				matched = append(matched, f)
			}
		}
	} else {
		for f := range w.files {
			if ok, _ := doublestar.Match(pattern, f); ok && !w.hidden[f] {
				matched = append(matched, f)
			}
		}
	}
	sort.Strings(matched)
	res := make(map[string][]byte, len(matched))
	w.readMu.Lock()
	for _, f := range matched {
		w.reads[f] = true
	}
	w.readMu.Unlock()
	for _, f := range matched {
		data, err := w.read(f)
		if err != nil {
			return nil, fmt.Errorf("error retrieving Git files: unable to read files. repo %s with revision %s pattern %s: %w", repoURL, revision, pattern, err)
		}
		if data != nil {
			res[f] = data
		}
	}
	return res, nil
}

// read reads a repository file; a symlink that leaves the repository reads as absent.
func (w *worktree) read(f string) ([]byte, error) {
	abs := filepath.Join(w.ctx.Root, filepath.FromSlash(f))
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	rel, err := filepath.Rel(w.realRoot, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil, nil
	}
	for _, seg := range strings.Split(filepath.ToSlash(rel), "/") {
		if seg == ".git" {
			return nil, nil
		}
	}
	return os.ReadFile(real)
}

// GetDirectories: every folder of the checkout (a checkout holds the folders its files are in),
// skipping hidden folders and what is under them, like the repo-server's walk.
func (w *worktree) GetDirectories(_ context.Context, repoURL, revision, _ string, _ bool, _ *v1alpha1.SourceIntegrity) ([]string, error) {
	if err := w.ctx.check(repoURL, revision); err != nil {
		return nil, err
	}
	dirs := map[string]bool{}
	for f := range w.files {
		for d := path.Dir(f); d != "." && d != "/"; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	var out []string
	for d := range dirs {
		hidden := false
		for _, seg := range strings.Split(d, "/") {
			if strings.HasPrefix(seg, ".") {
				hidden = true
				break
			}
		}
		if !hidden {
			out = append(out, d)
		}
	}
	// The repo-server's filepath.WalkDir yields lexical order folder by folder.
	sort.Slice(out, func(i, j int) bool {
		a, b := strings.Split(out[i], "/"), strings.Split(out[j], "/")
		for k := 0; k < len(a) && k < len(b); k++ {
			if a[k] != b[k] {
				return a[k] < b[k]
			}
		}
		return len(a) < len(b)
	})
	return out, nil
}
