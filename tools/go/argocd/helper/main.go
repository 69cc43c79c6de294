// Command argocd-helper answers what Argo CD v3.5.8 decides, with Argo CD's own code linked in
// (this module pins the same Argo CD the argocd binary is built from), offline and without a
// cluster. It reads one JSON request per line on stdin and writes one JSON line per answer:
//
//   - {"id":1,"op":"expand",...}: the Applications that ApplicationSets generate, through the
//     ApplicationSet controller's own generators and template rendering
//     (applicationset/controllers/template.GenerateApplications: goTemplate, goTemplateOptions,
//     sprig, templatePatch, syncPolicy). The git generator reads the repository under test
//     through worktree (repos.go) with git's own pathspec matching, the cluster generator reads
//     cluster Secrets synthesised from the request, and the generators that need a network or
//     a cluster (SCM provider, pull request, cluster decision resource, plugin) answer an
//     offline error naming themselves.
//   - {"id":2,"op":"manifests",...}: the manifests of an Application's sources, through the
//     repo-server's GenerateManifests (Helm, Kustomize, plain directories with recurse,
//     include, exclude and jsonnet), on a private copy of the repository's files (manifests.go).
//
// Requests are answered concurrently (up to -j at a time), each in its own line.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sync"

	log "github.com/sirupsen/logrus"
)

type request struct {
	ID int    `json:"id"`
	Op string `json:"op"`
	repoContext
	expandRequest
	manifestRequest
}

func main() {
	jobs := flag.Int("j", runtime.NumCPU(), "requests answered at a time")
	flag.Parse()
	// Argo CD's packages log through logrus; the answers say what went wrong.
	log.SetOutput(io.Discard)
	if os.Getenv("GITOPS_HELPER_DEBUG") != "" {
		log.SetOutput(os.Stderr)
		log.SetLevel(log.DebugLevel)
	}
	// A soft ceiling on the heap (the caller also bounds time): GOMEMLIMIT, else 2 GiB.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(2 << 30)
	}
	if err := setupEnv(); err != nil {
		fmt.Fprintf(os.Stderr, "argocd-helper: %v\n", err)
		os.Exit(2)
	}
	defer cleanup()

	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<28)
	stdout := bufio.NewWriterSize(os.Stdout, 1<<16)
	enc := json.NewEncoder(stdout)
	var outMu sync.Mutex
	sem := make(chan struct{}, *jobs)
	var wg sync.WaitGroup
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			fmt.Fprintf(os.Stderr, "argocd-helper: bad request: %v\n", err)
			os.Exit(2)
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			var res any
			func() {
				// A panic in linked code answers this request, not the whole session.
				defer func() {
					if p := recover(); p != nil {
						res = map[string]any{"id": req.ID, "error": fmt.Sprintf("internal error: %v", p)}
					}
				}()
				switch req.Op {
				case "expand":
					res = expand(req.ID, &req.repoContext, &req.expandRequest)
				case "manifests":
					res = manifests(req.ID, &req.repoContext, &req.manifestRequest)
				default:
					res = map[string]any{"id": req.ID, "error": fmt.Sprintf("unknown op %q", req.Op)}
				}
			}()
			outMu.Lock()
			_ = enc.Encode(res)
			_ = stdout.Flush()
			outMu.Unlock()
		}()
	}
	wg.Wait()
	if err := in.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "argocd-helper: %v\n", err)
		os.Exit(2)
	}
}
