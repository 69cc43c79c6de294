package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"github.com/argoproj/argo-cd/v3/reposerver/apiclient"
	"github.com/argoproj/argo-cd/v3/reposerver/repository"
	apppath "github.com/argoproj/argo-cd/v3/util/app/path"
	"github.com/argoproj/argo-cd/v3/util/git"
	utilio "github.com/argoproj/argo-cd/v3/util/io"
)

var (
	kustomizeBin = flag.String("kustomize", "", "the pinned kustomize (Kustomize sources)")
	helmBin      = flag.String("helm", "", "the pinned helm (Helm sources; absent: Helm sources are not rendered)")
	workDir      string
)

// setupEnv makes the environment every render runs in: a private temporary folder, a PATH
// holding only the pinned kustomize and helm (and git), no proxy that works (offline), no
// Config Management Plugin sockets, no network git protocol.
func setupEnv() error {
	dir, err := os.MkdirTemp("", "gitops-argocd-helper-")
	if err != nil {
		return err
	}
	workDir = dir
	bin := filepath.Join(dir, "bin")
	for _, d := range []string{bin, filepath.Join(dir, "tmp"), filepath.Join(dir, "home"), filepath.Join(dir, "plugins")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	link := func(name, target string) error {
		if target == "" {
			return nil
		}
		abs, err := filepath.Abs(target)
		if err != nil {
			return err
		}
		return os.Symlink(abs, filepath.Join(bin, name))
	}
	if err := link("kustomize", *kustomizeBin); err != nil {
		return err
	}
	if err := link("helm", *helmBin); err != nil {
		return err
	}
	if g, err := exec.LookPath("git"); err == nil {
		if err := link("git", g); err != nil {
			return err
		}
	}
	for k, v := range map[string]string{
		"PATH":                      bin,
		"TMPDIR":                    filepath.Join(dir, "tmp"),
		"HOME":                      filepath.Join(dir, "home"),
		"ARGOCD_PLUGINSOCKFILEPATH": filepath.Join(dir, "plugins"),
		"HTTP_PROXY":                "http://127.0.0.1:9",
		"HTTPS_PROXY":               "http://127.0.0.1:9",
		"http_proxy":                "http://127.0.0.1:9",
		"https_proxy":               "http://127.0.0.1:9",
		"NO_PROXY":                  "",
		"no_proxy":                  "",
		"GIT_ALLOW_PROTOCOL":        "file",
		"GIT_TERMINAL_PROMPT":       "0",
		"HELM_CACHE_HOME":           filepath.Join(dir, "home", "helm-cache"),
		"HELM_CONFIG_HOME":          filepath.Join(dir, "home", "helm-config"),
		"HELM_DATA_HOME":            filepath.Join(dir, "home", "helm-data"),
	} {
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	return nil
}

func cleanup() {
	if workDir != "" {
		_ = os.RemoveAll(workDir)
	}
}

type manifestRequest struct {
	Application json.RawMessage `json:"application"`
	// The vetted kustomize.buildOptions of the cluster's argocd-cm (the caller's allowlist).
	KustomizeBuildOptions string   `json:"kustomizeBuildOptions"`
	KubeVersion           string   `json:"kubeVersion"`
	APIVersions           []string `json:"apiVersions"`
	TimeoutSeconds        int      `json:"timeoutSeconds"`
}

type sourceResult struct {
	Index      int               `json:"index"`
	SourceType string            `json:"sourceType,omitempty"`
	Manifests  []json.RawMessage `json:"manifests"`
	Commands   []string          `json:"commands,omitempty"`
	Error      string            `json:"error,omitempty"`
	// Offline: why this source is not rendered offline (another repository, a chart repository,
	// a Config Management Plugin, another revision).
	Offline string `json:"offline,omitempty"`
	// Ref: a source that only lends its files to others ($ref), rendering nothing itself.
	Ref bool `json:"ref,omitempty"`
}

type manifestResponse struct {
	ID      int            `json:"id"`
	Sources []sourceResult `json:"sources,omitempty"`
	Error   string         `json:"error,omitempty"`
}

// A copy of the repository's files (what a checkout of the revision under test holds), shared by
// the renders that do not write; kustomize overrides (`kustomize edit`) get a copy of their own.
var (
	copiesMu sync.Mutex
	copies   = map[string]*repoCopy{}
)

type repoCopy struct {
	once sync.Once
	dir  string
	err  error
}

// snapshotKey changes when a file is added, removed or changed (size or mtime).
func snapshotKey(c *repoContext) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00", c.Root)
	for _, f := range c.Files {
		st, err := os.Lstat(filepath.Join(c.Root, f))
		if err != nil {
			fmt.Fprintf(h, "%s\x00-\x00", f)
			continue
		}
		fmt.Fprintf(h, "%s\x00%d\x00%d\x00", f, st.Size(), st.ModTime().UnixNano())
	}
	return hex.EncodeToString(h.Sum(nil))
}

func sharedCopy(c *repoContext) (string, error) {
	key := snapshotKey(c)
	copiesMu.Lock()
	rc := copies[key]
	if rc == nil {
		rc = &repoCopy{}
		copies[key] = rc
	}
	copiesMu.Unlock()
	rc.once.Do(func() { rc.dir, rc.err = copyRepo(c) })
	return rc.dir, rc.err
}

// copyRepo copies the listed files; a symlink is kept when it resolves inside the repository
// and left out otherwise (a render never reads outside the repository).
func copyRepo(c *repoContext) (string, error) {
	dst, err := os.MkdirTemp(filepath.Join(workDir, "tmp"), "repo-")
	if err != nil {
		return "", err
	}
	realRoot, err := filepath.EvalSymlinks(c.Root)
	if err != nil {
		return "", err
	}
	for _, f := range c.Files {
		if f == "" || strings.HasPrefix(f, "/") || strings.Contains("/"+f+"/", "/../") || strings.Contains("/"+f+"/", "/.git/") {
			continue
		}
		src := filepath.Join(c.Root, filepath.FromSlash(f))
		to := filepath.Join(dst, filepath.FromSlash(f))
		st, err := os.Lstat(src)
		if err != nil {
			continue // listed but deleted from the working tree
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return "", err
		}
		if st.Mode()&os.ModeSymlink != 0 {
			real, err := filepath.EvalSymlinks(src)
			if err != nil {
				continue
			}
			rel, err := filepath.Rel(realRoot, real)
			if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				continue
			}
			// Pointed at inside the copy (relative to the link's folder), never at the original.
			target, err := filepath.Rel(filepath.Dir(to), filepath.Join(dst, rel))
			if err != nil {
				continue
			}
			if err := os.Symlink(target, to); err != nil {
				return "", err
			}
			continue
		}
		if !st.Mode().IsRegular() {
			continue
		}
		if err := copyFile(src, to, st.Mode().Perm()); err != nil {
			return "", err
		}
	}
	return dst, nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode|0o200)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// The repo-server's default --max-combined-directory-manifests-size.
var maxCombined = resource.MustParse("10M")

func manifests(id int, c *repoContext, req *manifestRequest) manifestResponse {
	res := manifestResponse{ID: id}
	app := &v1alpha1.Application{}
	if err := json.Unmarshal(req.Application, app); err != nil {
		res.Error = fmt.Sprintf("the Application does not parse: %v", err)
		return res
	}
	timeout := time.Duration(req.TimeoutSeconds) * time.Second
	if timeout <= 0 {
		timeout = 120 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	sources := app.Spec.GetSources()
	multi := app.Spec.HasMultipleSources()
	refs := map[string]*v1alpha1.RefTarget{}
	for _, s := range sources {
		if s.Ref != "" {
			refs["$"+s.Ref] = &v1alpha1.RefTarget{Repo: v1alpha1.Repository{Repo: s.RepoURL}, TargetRevision: s.TargetRevision, Chart: s.Chart}
		}
	}
	for i := range sources {
		src := sources[i]
		out := sourceResult{Index: i, Manifests: []json.RawMessage{}}
		if multi && src.Ref != "" && src.Path == "" && src.Chart == "" {
			out.Ref = true
			res.Sources = append(res.Sources, out)
			continue
		}
		if reason := offlineReason(c, &src, refs); reason != "" {
			out.Offline = reason
			res.Sources = append(res.Sources, out)
			continue
		}
		rendered, err := renderSource(ctx, c, app, &src, multi, refs, req)
		if err != nil {
			var off *offlineError
			if errors.As(err, &off) {
				out.Offline = off.reason
			} else {
				out.Error = err.Error()
			}
		} else {
			out.SourceType = rendered.SourceType
			out.Commands = rendered.Commands
			for _, m := range rendered.Manifests {
				out.Manifests = append(out.Manifests, json.RawMessage(m))
			}
		}
		if ctx.Err() != nil && out.Error != "" {
			out.Error = fmt.Sprintf("timed out after %s: %s", timeout, out.Error)
		}
		res.Sources = append(res.Sources, out)
	}
	return res
}

// offlineReason: why a source cannot be rendered from the repository under test, or "".
func offlineReason(c *repoContext, src *v1alpha1.ApplicationSource, refs map[string]*v1alpha1.RefTarget) string {
	if src.Chart != "" {
		return fmt.Sprintf("Helm chart %q is fetched from the chart repository %s, which is not read offline", src.Chart, src.RepoURL)
	}
	if src.IsOCI() {
		return fmt.Sprintf("OCI source %s is not read offline", src.RepoURL)
	}
	if err := c.check(src.RepoURL, src.TargetRevision); err != nil {
		return err.Error()
	}
	if src.Plugin != nil {
		name := src.Plugin.Name
		if name == "" {
			name = "(discovered)"
		}
		return fmt.Sprintf("Config Management Plugin %s runs a program of the plugin's sidecar, which the toolkit does not run", name)
	}
	if src.Helm != nil && *helmBin == "" {
		return "Helm source needs the toolkit's pinned helm, which is not installed: run 'npm run setup -- --helm' (renders never use a helm the repository names)"
	}
	if src.Helm != nil {
		for _, f := range append(append([]string{}, src.Helm.ValueFiles...), fileParamPaths(src.Helm)...) {
			if !strings.HasPrefix(f, "$") {
				continue
			}
			ref := refs[strings.SplitN(f, "/", 2)[0]]
			if ref != nil && ref.Chart == "" {
				if err := c.check(ref.Repo.Repo, ref.TargetRevision); err != nil {
					return fmt.Sprintf("values file %s: %v", f, err)
				}
			}
		}
	}
	return ""
}

func fileParamPaths(h *v1alpha1.ApplicationSourceHelm) []string {
	var out []string
	for _, p := range h.FileParameters {
		out = append(out, p.Path)
	}
	return out
}

func renderSource(ctx context.Context, c *repoContext, app *v1alpha1.Application, src *v1alpha1.ApplicationSource, multi bool, refs map[string]*v1alpha1.RefTarget, req *manifestRequest) (*apiclient.ManifestResponse, error) {
	root, err := sharedCopy(c)
	if err != nil {
		return nil, fmt.Errorf("copying the repository: %w", err)
	}
	// `kustomize edit` (the Application's kustomize overrides) and a Helm dependency build write
	// into the checkout: those renders get a copy of their own.
	if src.Kustomize != nil || (src.Helm != nil && src.Path != "") {
		if src.Kustomize != nil || helmNeedsBuild(root, src.Path) {
			own, err := copyRepo(c)
			if err != nil {
				return nil, fmt.Errorf("copying the repository: %w", err)
			}
			defer os.RemoveAll(own)
			root = own
		}
	}
	appPath, err := apppath.Path(root, src.Path)
	if err != nil {
		return nil, err
	}
	paths := utilio.NewRandomizedTempPaths(filepath.Join(workDir, "tmp"))
	paths.Add(git.NormalizeGitURL(c.RepoURL), root)
	revision := src.TargetRevision
	if revision == "" {
		revision = "HEAD"
	}
	q := &apiclient.ManifestRequest{
		Repo:               &v1alpha1.Repository{Repo: src.RepoURL},
		Revision:           revision,
		AppName:            app.InstanceName(c.namespace()),
		Namespace:          app.Spec.Destination.Namespace,
		ApplicationSource:  src,
		KustomizeOptions:   &v1alpha1.KustomizeOptions{BuildOptions: req.KustomizeBuildOptions},
		KubeVersion:        req.KubeVersion,
		ApiVersions:        req.APIVersions,
		HasMultipleSources: multi,
		RefSources:         refs,
		ProjectName:        app.Spec.Project,
		HelmOptions:        &v1alpha1.HelmOptions{ValuesFileSchemes: []string{}},
	}
	type answer struct {
		res *apiclient.ManifestResponse
		err error
	}
	done := make(chan answer, 1)
	go func() {
		r, err := repository.GenerateManifests(ctx, appPath, root, revision, q, false, &git.NoopCredsStore{}, maxCombined, paths)
		done <- answer{r, err}
	}()
	select {
	case a := <-done:
		return a.res, a.err
	case <-ctx.Done():
		return nil, fmt.Errorf("manifest generation did not finish: %w", ctx.Err())
	}
}

// helmNeedsBuild: a chart whose dependencies are not vendored makes Argo CD run `helm dependency
// build`, which writes charts/ into the checkout.
func helmNeedsBuild(root, p string) bool {
	data, err := os.ReadFile(filepath.Join(root, p, "Chart.yaml"))
	if err != nil || !strings.Contains(string(data), "dependencies") {
		return false
	}
	entries, _ := os.ReadDir(filepath.Join(root, p, "charts"))
	return len(entries) == 0
}
