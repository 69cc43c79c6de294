package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	log "github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/argoproj/argo-cd/v3/applicationset/controllers/template"
	"github.com/argoproj/argo-cd/v3/applicationset/generators"
	"github.com/argoproj/argo-cd/v3/applicationset/utils"
	"github.com/argoproj/argo-cd/v3/common"
	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
)

// A cluster the cluster generator sees: what a cluster Secret of Argo CD holds.
type clusterSecret struct {
	Name        string            `json:"name"`
	Server      string            `json:"server"`
	Project     string            `json:"project,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type expandRequest struct {
	ApplicationSets []json.RawMessage `json:"applicationSets"`
	Projects        []json.RawMessage `json:"projects"`
	Clusters        []clusterSecret   `json:"clusters"`
}

type generatedApp struct {
	// Index of the generator (spec.generators) the Application comes from.
	Generator   int            `json:"generator"`
	Application map[string]any `json:"application"`
}

type generatorError struct {
	// Generator index, or -1 for the ApplicationSet as a whole (it does not parse).
	Generator int    `json:"generator"`
	Message   string `json:"message"`
	// Offline: the generator (or what it reads) cannot be evaluated offline; not the repository's fault.
	Offline bool `json:"offline,omitempty"`
}

type appSetResult struct {
	Apps   []generatedApp   `json:"apps"`
	Errors []generatorError `json:"errors"`
}

type expandResponse struct {
	ID      int            `json:"id"`
	Results []appSetResult `json:"results,omitempty"`
	// Reads: repository files the git generators read.
	Reads []string `json:"reads,omitempty"`
	Error string   `json:"error,omitempty"`
}

// offlineGenerator stands in for a generator that needs an SCM, a pull-request API, a cluster
// or a plugin service: it answers an offlineError naming itself.
type offlineGenerator struct{ name, reason string }

func (g offlineGenerator) GenerateParams(*v1alpha1.ApplicationSetGenerator, *v1alpha1.ApplicationSet, client.Client) ([]map[string]any, error) {
	return nil, &offlineError{fmt.Sprintf("the %s generator %s: not expanded offline", g.name, g.reason)}
}
func (offlineGenerator) GetRequeueAfter(*v1alpha1.ApplicationSetGenerator) time.Duration {
	return generators.NoRequeueAfter
}
func (offlineGenerator) GetTemplate(*v1alpha1.ApplicationSetGenerator) *v1alpha1.ApplicationSetTemplate {
	return &v1alpha1.ApplicationSetTemplate{}
}

// generatorSet mirrors generators.GetGenerators with the offline generators swapped in.
func generatorSet(c client.Client, namespace string, repos *worktree) map[string]generators.Generator {
	terminal := map[string]generators.Generator{
		"List":                    generators.NewListGenerator(),
		"Clusters":                generators.NewClusterGenerator(c, namespace),
		"Git":                     generators.NewGitGenerator(repos, namespace),
		"SCMProvider":             offlineGenerator{"scmProvider", "lists repositories of an SCM provider's API"},
		"ClusterDecisionResource": offlineGenerator{"clusterDecisionResource", "reads a custom resource in the cluster"},
		"PullRequest":             offlineGenerator{"pullRequest", "lists open pull requests of an SCM provider's API"},
		"Plugin":                  offlineGenerator{"plugin", "calls a plugin service"},
	}
	nested := map[string]generators.Generator{}
	for k, v := range terminal {
		nested[k] = v
	}
	nested["Matrix"] = generators.NewMatrixGenerator(terminal)
	nested["Merge"] = generators.NewMergeGenerator(terminal)
	top := map[string]generators.Generator{}
	for k, v := range terminal {
		top[k] = v
	}
	top["Matrix"] = generators.NewMatrixGenerator(nested)
	top["Merge"] = generators.NewMergeGenerator(nested)
	return top
}

func newScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

func expand(id int, rc *repoContext, req *expandRequest) expandResponse {
	res := expandResponse{ID: id}
	ns := rc.namespace()
	repos, err := newWorktree(rc)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	scheme, err := newScheme()
	if err != nil {
		res.Error = err.Error()
		return res
	}
	var objs []client.Object
	// Argo CD always has the default AppProject (argocd-server makes it): the git generator looks it up.
	hasDefault := false
	for i, raw := range req.Projects {
		p := &v1alpha1.AppProject{}
		if err := json.Unmarshal(raw, p); err != nil {
			res.Error = fmt.Sprintf("AppProject %d: %v", i, err)
			return res
		}
		p.Namespace = ns
		hasDefault = hasDefault || p.Name == v1alpha1.DefaultAppProjectName
		objs = append(objs, p)
	}
	if !hasDefault {
		objs = append(objs, &v1alpha1.AppProject{
			ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.DefaultAppProjectName, Namespace: ns},
			Spec: v1alpha1.AppProjectSpec{
				SourceRepos:              []string{"*"},
				Destinations:             []v1alpha1.ApplicationDestination{{Server: "*", Namespace: "*"}},
				ClusterResourceWhitelist: []v1alpha1.ClusterResourceRestrictionItem{{Group: "*", Kind: "*"}},
			},
		})
	}
	for i, c := range req.Clusters {
		labels := map[string]string{common.LabelKeySecretType: common.LabelValueSecretTypeCluster}
		for k, v := range c.Labels {
			labels[k] = v
		}
		data := map[string][]byte{"name": []byte(c.Name), "server": []byte(c.Server)}
		if c.Project != "" {
			data["project"] = []byte(c.Project)
		}
		objs = append(objs, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cluster-%d", i), Namespace: ns, Labels: labels, Annotations: c.Annotations},
			Data:       data,
		})
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
	gens := generatorSet(c, ns, repos)
	logCtx := log.WithField("component", "argocd-helper")

	for _, raw := range req.ApplicationSets {
		out := appSetResult{Apps: []generatedApp{}, Errors: []generatorError{}}
		set := &v1alpha1.ApplicationSet{}
		if err := json.Unmarshal(raw, set); err != nil {
			out.Errors = append(out.Errors, generatorError{Generator: -1, Message: fmt.Sprintf("the ApplicationSet does not parse: %v", err)})
			res.Results = append(res.Results, out)
			continue
		}
		if set.Namespace == "" {
			set.Namespace = ns
		}
		// One generator at a time, so that each error names its generator; the controller runs
		// them all and stops at the first error (updating none of the Applications).
		for gi, g := range set.Spec.Generators {
			one := set.DeepCopy()
			one.Spec.Generators = []v1alpha1.ApplicationSetGenerator{g}
			var apps []v1alpha1.Application
			// A file the git files generator cannot parse fails the whole generator (Argo CD then
			// updates none of the Applications): it is reported, and the generator runs again
			// without it, so that the other folders are still checked (one bad file, one finding).
			repos.hidden = map[string]bool{}
			for attempt := 0; ; attempt++ {
				var err error
				apps, _, err = template.GenerateApplications(logCtx, *one, gens, namingRenderer{&utils.Render{}}, c)
				if err == nil {
					break
				}
				var off *offlineError
				out.Errors = append(out.Errors, generatorError{Generator: gi, Message: err.Error(), Offline: errors.As(err, &off) || strings.Contains(err.Error(), "not expanded offline")})
				m := unparsable.FindStringSubmatch(err.Error())
				if m == nil || repos.hidden[m[1]] || attempt >= 100 {
					break
				}
				repos.hidden[m[1]] = true
			}
			repos.hidden = nil
			// The Applications whose parameters did render. (The controller itself stops at the
			// error and updates none; they are still checked, so one bad folder is one finding.)
			for i := range apps {
				out.Apps = append(out.Apps, generatedApp{Generator: gi, Application: applicationObject(&apps[i])})
			}
		}
		res.Results = append(res.Results, out)
	}
	for f := range repos.reads {
		res.Reads = append(res.Reads, f)
	}
	sort.Strings(res.Reads)
	return res
}

// applicationObject: the Application as a manifest (no status, no empty metadata).
func applicationObject(a *v1alpha1.Application) map[string]any {
	meta := map[string]any{"name": a.Name}
	if a.Namespace != "" {
		meta["namespace"] = a.Namespace
	}
	if len(a.Labels) > 0 {
		meta["labels"] = a.Labels
	}
	if len(a.Annotations) > 0 {
		meta["annotations"] = a.Annotations
	}
	if len(a.Finalizers) > 0 {
		meta["finalizers"] = a.Finalizers
	}
	var spec map[string]any
	data, _ := json.Marshal(a.Spec)
	_ = json.Unmarshal(data, &spec)
	return map[string]any{"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": meta, "spec": spec}
}

var unparsable = regexp.MustCompile(`unable to process file '([^']+)'`)

// namingRenderer is Argo CD's renderer, with a failing template's error naming the parameter set
// it failed for (the folder, for the git generators).
type namingRenderer struct{ utils.Renderer }

func (r namingRenderer) RenderTemplateParams(tmpl *v1alpha1.Application, syncPolicy *v1alpha1.ApplicationSetSyncPolicy, params map[string]any, useGoTemplate bool, goTemplateOptions []string) (*v1alpha1.Application, error) {
	app, err := r.Renderer.RenderTemplateParams(tmpl, syncPolicy, params, useGoTemplate, goTemplateOptions)
	if err != nil {
		return app, fmt.Errorf("template fails for %s: %w", describeParams(params), err)
	}
	return app, nil
}

func (r namingRenderer) Replace(tmpl string, replaceMap map[string]any, useGoTemplate bool, goTemplateOptions []string) (string, error) {
	out, err := r.Renderer.Replace(tmpl, replaceMap, useGoTemplate, goTemplateOptions)
	if err != nil {
		return out, fmt.Errorf("template fails for %s: %w", describeParams(replaceMap), err)
	}
	return out, nil
}

func describeParams(p map[string]any) string {
	if m, ok := p["path"].(map[string]any); ok {
		if s, ok := m["path"].(string); ok {
			return s
		}
	}
	if s, ok := p["path"].(string); ok {
		return s
	}
	data, _ := json.Marshal(p)
	if len(data) > 120 {
		data = append(data[:117], "..."...)
	}
	return string(data)
}
