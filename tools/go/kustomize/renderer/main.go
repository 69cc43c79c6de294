// Command renderer is a long-lived `kustomize build`: it links the same kustomize API as the
// pinned kustomize binary (this module pins both), reads one JSON request per line on stdin
// ({"id":1,"dir":"/abs/overlay","args":["--load-restrictor","LoadRestrictionsRootOnly"]}) and
// writes one JSON result per line on stdout ({"id":1,"yaml":"...","json":[...]} or {"id":1,"error":"..."}),
// rendering up to -j requests at a time. It saves the process start and the openapi schema
// parse that every kustomize process pays (the strategic-merge-patch path), and its output is
// byte-identical to `kustomize build [args] dir` (tools/test/renderer.test.ts checks it).
//
// A request with "origins":true renders as if the target's kustomization also said
// `buildMetadata: [originAnnotations, transformerAnnotations]` (injected by a filesystem wrapper,
// never written to disk), so every object carries the file it came from and the transformers
// that ran over it: what tools/lib/origins.ts needs to point a finding at the patch that wrote a
// value. Checked with kustomize v5.8.1: kustomize hands the top kustomization's buildMetadata
// down to every base and component (accumulateDirectory), so `config.kubernetes.io/origin`
// names the file relative to the target folder (`path: ../../apps/x/deploy.yaml`; generated
// objects carry `configuredIn`/`configuredBy` instead, remote ones `repo` and `ref`), and
// `alpha.config.kubernetes.io/transformations` lists, in order, one entry per builtin transformer
// that ran over the object's resource map: `configuredIn` (that kustomization, relative to the
// target folder) and `configuredBy.kind` (PatchTransformer once per `patches:` entry,
// PatchStrategicMergeTransformer once for all `patchesStrategicMerge:`, PatchJson6902Transformer
// once per `patchesJson6902:` entry, ImageTagTransformer once per `images:` entry, Prefix/Suffix,
// Namespace, ...), whether or not it changed the object. The entries name no patch: which
// entry wrote which field is left to origins.ts.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/spf13/pflag"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kustomize/v5/commands/build"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/openapi"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	"sigs.k8s.io/yaml"
)

type request struct {
	ID   int      `json:"id"`
	Dir  string   `json:"dir"`
	Args []string `json:"args"`
	// Origins: annotate origins and transformations (see the package comment).
	Origins bool `json:"origins,omitempty"`
	// JSON asks for the objects as JSON too.
	JSON bool `json:"json"`
	// Root: the repository root. Every read goes through guardFS (guard.go): recorded, and
	// refused outside the root, through a symlink out, in .git or under /proc.
	Root string `json:"root,omitempty"`
}

type response struct {
	ID   int    `json:"id"`
	YAML string `json:"yaml,omitempty"`
	// JSON: the same objects as a JSON array (parsed in Go, on every core, not in the caller).
	JSON  json.RawMessage `json:"json,omitempty"`
	Error string          `json:"error,omitempty"`
	// Unsupported: the request needs the kustomize binary (the caller falls back to it).
	Unsupported string `json:"unsupported,omitempty"`
	// Reads: every file whose content the build read (absolute paths), with a Root.
	Reads []string `json:"reads,omitempty"`
	// Refused: reads the guard refused (the build then fails, or went on without them).
	Refused []refusal `json:"refused,omitempty"`
}

// Flags this renderer accepts, as `kustomize build` parses them. Anything else (plugins, exec,
// helm, output paths) is refused: the caller passes only allowlisted build options.
var allowedFlags = map[string]bool{"load-restrictor": true, "reorder": true, "enable-managedby-label": true}

var (
	// The kustomize CLI keeps its flags in package variables: parse one set at a time.
	flagsMu sync.Mutex
	options = map[string]*krusty.Options{}
)

// buildOptions turns build arguments into krusty options with the CLI's own flag code
// (NewCmdBuild defines the flags and their defaults, HonorKustomizeFlags maps them), so
// defaults and validation are the CLI's, not a copy of them.
func buildOptions(args []string) (*krusty.Options, error) {
	flagsMu.Lock()
	defer flagsMu.Unlock()
	key := strings.Join(args, "\x00")
	if o, ok := options[key]; ok {
		return o, nil
	}
	cmd := build.NewCmdBuild(filesys.MakeFsOnDisk(), build.MakeHelp(konfig.ProgramName, "build"), io.Discard)
	build.AddFunctionAlphaEnablementFlags(cmd.Flags())
	if err := cmd.ParseFlags(args); err != nil {
		return nil, err
	}
	var refused []string
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if !allowedFlags[f.Name] {
			refused = append(refused, "--"+f.Name)
		}
	})
	if len(refused) > 0 {
		return nil, fmt.Errorf("build options not supported by the renderer: %s", strings.Join(refused, " "))
	}
	if rest := cmd.Flags().Args(); len(rest) > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(rest, " "))
	}
	if err := build.Validate([]string{"."}); err != nil {
		return nil, err
	}
	o := build.HonorKustomizeFlags(krusty.MakeDefaultOptions(), cmd.Flags())
	options[key] = o
	return o, nil
}

// usesOpenAPI: a kustomization with an `openapi:` field swaps kyaml's process-global schema,
// which concurrent builds share; such builds go to the kustomize binary instead.
func usesOpenAPI(dir string) bool {
	for _, name := range konfig.RecognizedKustomizationFileNames() {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		var k map[string]interface{}
		if yaml.Unmarshal(data, &k) != nil {
			return false // kustomize reports the syntax error itself
		}
		_, ok := k["openapi"]
		return ok
	}
	return false
}

func render(fs filesys.FileSystem, req request) (res response) {
	res = response{ID: req.ID}
	opts, err := buildOptions(req.Args)
	if err != nil {
		res.Unsupported = err.Error()
		return res
	}
	if usesOpenAPI(req.Dir) {
		res.Unsupported = "kustomization sets openapi:"
		return res
	}
	var guard *guardFS
	if req.Root != "" {
		guard = newGuard(fs, req.Root)
		fs = guard
		defer func() { res.Reads, res.Refused = guard.result() }()
	}
	if req.Origins {
		fs = originsFS{FileSystem: fs, dir: filepath.Clean(req.Dir)}
	}
	m, err := krusty.MakeKustomizer(opts).Run(fs, req.Dir)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	out, err := m.AsYaml()
	if err != nil {
		res.Error = err.Error()
		return res
	}
	res.YAML = string(out)
	if req.JSON {
		// Values JSON cannot hold (.inf, .nan) leave the JSON out: the caller parses the YAML.
		docs := make([]json.RawMessage, 0, m.Size())
		for _, r := range m.Resources() {
			j, err := r.MarshalJSON()
			if err != nil {
				return res
			}
			docs = append(docs, j)
		}
		if j, err := json.Marshal(docs); err == nil {
			res.JSON = j
		}
	}
	return res
}

// originsFS reads the target's own kustomization with buildMetadata originAnnotations and
// transformerAnnotations added; every other file, and every write, is the wrapped filesystem's.
type originsFS struct {
	filesys.FileSystem
	dir string
}

var originsMetadata = []string{"originAnnotations", "transformerAnnotations"}

func (f originsFS) ReadFile(path string) ([]byte, error) {
	data, err := f.FileSystem.ReadFile(path)
	if err != nil || filepath.Dir(filepath.Clean(path)) != f.dir || !isKustomizationName(filepath.Base(path)) {
		return data, err
	}
	return withBuildMetadata(data), nil
}

func isKustomizationName(name string) bool {
	for _, n := range konfig.RecognizedKustomizationFileNames() {
		if n == name {
			return true
		}
	}
	return false
}

// withBuildMetadata adds the origin options to a kustomization's buildMetadata. Anything it
// cannot read as one mapping is returned unchanged, so kustomize reports it as it would.
func withBuildMetadata(data []byte) []byte {
	node, err := kyaml.Parse(string(data))
	if err != nil || node == nil || node.YNode().Kind != kyaml.MappingNode || len(node.YNode().Content) == 0 {
		return data
	}
	field, err := node.Pipe(kyaml.LookupCreate(kyaml.SequenceNode, "buildMetadata"))
	if err != nil || field == nil || field.YNode().Kind != kyaml.SequenceNode {
		return data
	}
	have := map[string]bool{}
	for _, n := range field.YNode().Content {
		have[n.Value] = true
	}
	for _, m := range originsMetadata {
		if !have[m] {
			field.YNode().Content = append(field.YNode().Content, kyaml.NewStringRNode(m).YNode())
		}
	}
	out, err := node.String()
	if err != nil {
		return data
	}
	return []byte(out)
}

func main() {
	jobs := flag.Int("j", runtime.NumCPU(), "requests rendered at a time")
	flag.Parse()

	// Parse the built-in openapi schema once, before any build: its lazy first parse fills maps
	// that concurrent builds would otherwise read while it writes them.
	warm := make(chan struct{})
	go func() {
		openapi.SchemaForResourceType(kyaml.TypeMeta{APIVersion: "v1", Kind: "Service"})
		close(warm)
	}()

	fs := filesys.MakeFsOnDisk()
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<24)
	stdout := bufio.NewWriterSize(os.Stdout, 1<<16)
	enc := json.NewEncoder(stdout)
	var outMu sync.Mutex

	sem := make(chan struct{}, *jobs)
	var wg sync.WaitGroup
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			fmt.Fprintf(os.Stderr, "renderer: bad request: %v\n", err)
			os.Exit(2)
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			<-warm
			res := render(fs, req)
			outMu.Lock()
			// One line per result, flushed at once: the caller may be waiting for this one.
			_ = enc.Encode(res)
			_ = stdout.Flush()
			outMu.Unlock()
		}()
	}
	wg.Wait()
	if err := in.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "renderer: %v\n", err)
		os.Exit(2)
	}
}
