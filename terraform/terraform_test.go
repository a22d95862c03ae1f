// Package terraform_test checks the Terraform configuration without a
// cloud account or provider downloads (these machines have neither):
// formatting with terraform itself, then every module's interface,
// references and IAM policies, read with terraform-config-inspect and the
// HCL parser Terraform uses.
package terraform_test

import (
	"archive/zip"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/terraform-config-inspect/tfconfig"
)

// TestFmt: terraform fmt -check -recursive, as the infra team's CI would.
func TestFmt(t *testing.T) {
	tf, err := exec.LookPath("terraform")
	if err != nil {
		t.Fatal("terraform is not installed (these machines have it at /usr/local/bin/terraform); it is needed to check formatting: " + err.Error())
	}
	out, err := exec.Command(tf, "fmt", "-check", "-recursive", "-diff", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("terraform fmt -check -recursive terraform: %v (run `terraform fmt -recursive terraform`)\n%s", err, out)
	}
}

// TestValidateAndPlan runs terraform validate on every module and
// environment, then envs/example's `terraform test` (plan and apply against
// a mocked AWS provider). Both need the AWS provider's schema: without
// registry access they use a local provider mirror (these machines have
// one at /opt/tf-plugins; REWIND_TF_PLUGIN_DIR points elsewhere).
func TestValidateAndPlan(t *testing.T) {
	tf, err := exec.LookPath("terraform")
	if err != nil {
		t.Fatal("terraform is not installed (these machines have it at /usr/local/bin/terraform): " + err.Error())
	}
	plugins := os.Getenv("REWIND_TF_PLUGIN_DIR")
	if plugins == "" {
		plugins = "/opt/tf-plugins"
	}
	if _, err := os.Stat(filepath.Join(plugins, "registry.terraform.io", "hashicorp", "aws")); err != nil {
		t.Skipf("no local AWS provider mirror at %s (no registry access here): validate and plan skipped; the static checks above still ran", plugins)
	}
	// A copy, so that .terraform folders and lock files stay out of the
	// repository; laid out like it, since envs/example finds the Lambda
	// zip at ../../../build.
	root := t.TempDir()
	if err := copyTree(".", filepath.Join(root, "terraform")); err != nil {
		t.Fatal(err)
	}
	if err := lambdaZip(filepath.Join(root, "build", "rewind-vodapi-lambda.zip")); err != nil {
		t.Fatal(err)
	}
	run := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command(tf, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: terraform %s: %v\n%s", dir, strings.Join(args, " "), err, out)
		}
	}
	modules, envs := configs(t)
	tested := 0
	for _, c := range append(modules, envs...) {
		dir := filepath.Join(root, "terraform", c.dir)
		run(dir, "init", "-backend=false", "-input=false", "-no-color", "-plugin-dir="+plugins)
		run(dir, "validate", "-no-color")
		// A module's own tests (modules/origin/tests: the proxy tier) and
		// the environment's.
		if tests, _ := filepath.Glob(filepath.Join(dir, "tests", "*.tftest.hcl")); len(tests) > 0 {
			run(dir, "test", "-no-color")
			tested++
		}
	}
	if _, err := os.Stat(filepath.Join("envs", "example", "tests", "plan.tftest.hcl")); err != nil {
		t.Errorf("envs/example/tests/plan.tftest.hcl: %v", err)
	}
	if _, err := os.Stat(filepath.Join("modules", "origin", "tests", "proxy.tftest.hcl")); err != nil {
		t.Errorf("modules/origin/tests/proxy.tftest.hcl: %v", err)
	}
	if _, err := os.Stat(filepath.Join("modules", "storage", "tests", "retention.tftest.hcl")); err != nil {
		t.Errorf("modules/storage/tests/retention.tftest.hcl: %v", err)
	}
	if tested < 3 {
		t.Errorf("terraform test ran in %d folders, want envs/example, modules/origin and modules/storage at least", tested)
	}
}

// copyTree copies the configuration files under src (no .terraform state,
// no Go files).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".terraform" {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, path)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if strings.HasSuffix(path, ".go") || strings.HasSuffix(path, ".lock.hcl") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}

// lambdaZip puts the function's zip where envs/example expects it: the one
// `make lambda` built when make test says where, else a stand-in (plan
// only hashes it).
func lambdaZip(dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if src := os.Getenv("REWIND_LAMBDA_ZIP"); src != "" {
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(f)
	w, err := zw.Create("bootstrap")
	if err == nil {
		_, err = w.Write([]byte("stand-in for make lambda's bootstrap"))
	}
	if err == nil {
		err = zw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// config is one Terraform module folder, loaded both ways.
type config struct {
	dir    string
	mod    *tfconfig.Module
	bodies []*hclsyntax.Body // one per .tf file
}

func load(t *testing.T, dir string) *config {
	t.Helper()
	mod, diags := tfconfig.LoadModule(dir)
	if diags.HasErrors() {
		t.Fatalf("%s: %v", dir, diags.Err())
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil || len(files) == 0 {
		t.Fatalf("%s: no .tf files (%v)", dir, err)
	}
	p := hclparse.NewParser()
	c := &config{dir: dir, mod: mod}
	for _, f := range files {
		file, diags := p.ParseHCLFile(f)
		if diags.HasErrors() {
			t.Fatalf("%s: %v", f, diags)
		}
		c.bodies = append(c.bodies, file.Body.(*hclsyntax.Body))
	}
	return c
}

// configs lists every module and environment.
func configs(t *testing.T) (modules, envs []*config) {
	t.Helper()
	for _, kind := range []string{"modules", "envs"} {
		dirs, err := filepath.Glob(filepath.Join(kind, "*"))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range dirs {
			if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
				continue
			}
			if kind == "modules" {
				modules = append(modules, load(t, d))
			} else {
				envs = append(envs, load(t, d))
			}
		}
	}
	for _, want := range []string{"storage", "cdn", "vodapi", "editor", "origin"} {
		if !slices.ContainsFunc(modules, func(c *config) bool { return filepath.Base(c.dir) == want }) {
			t.Errorf("module %s is missing", want)
		}
	}
	if !slices.ContainsFunc(envs, func(c *config) bool { return filepath.Base(c.dir) == "example" }) {
		t.Error("envs/example is missing")
	}
	return modules, envs
}

// TestInterfaces: each variable has a type and a description, each module
// has outputs and each output a description.
func TestInterfaces(t *testing.T) {
	modules, envs := configs(t)
	for _, c := range append(modules, envs...) {
		for _, v := range sortedKeys(c.mod.Variables) {
			vr := c.mod.Variables[v]
			if vr.Type == "" {
				t.Errorf("%s: variable %s has no type", c.dir, v)
			}
			if strings.TrimSpace(vr.Description) == "" {
				t.Errorf("%s: variable %s has no description", c.dir, v)
			}
		}
		if len(c.mod.Outputs) == 0 {
			t.Errorf("%s: no outputs", c.dir)
		}
		for _, o := range sortedKeys(c.mod.Outputs) {
			if strings.TrimSpace(c.mod.Outputs[o].Description) == "" {
				t.Errorf("%s: output %s has no description", c.dir, o)
			}
		}
	}
}

// TestEnvironmentsWireModules: every environment passes each module it
// calls every required variable and nothing the module does not declare;
// example uses every module.
func TestEnvironmentsWireModules(t *testing.T) {
	modules, envs := configs(t)
	for _, env := range envs {
		used := map[string]bool{}
		for _, b := range env.bodies {
			for _, blk := range b.Blocks {
				if blk.Type != "module" {
					continue
				}
				call := blk.Labels[0]
				src := env.mod.ModuleCalls[call].Source
				if !strings.HasPrefix(src, "../") {
					t.Errorf("%s: module %s: source %q is not a local module", env.dir, call, src)
					continue
				}
				child := load(t, filepath.Join(env.dir, src))
				used[filepath.Clean(child.dir)] = true
				for _, v := range sortedKeys(child.mod.Variables) {
					if _, ok := blk.Body.Attributes[v]; child.mod.Variables[v].Required && !ok {
						t.Errorf("%s: module %s does not pass required variable %s", env.dir, call, v)
					}
				}
				for name := range blk.Body.Attributes {
					if _, ok := child.mod.Variables[name]; !ok && !metaArgs[name] {
						t.Errorf("%s: module %s passes %s, which %s does not declare", env.dir, call, name, child.dir)
					}
				}
			}
		}
		if filepath.Base(env.dir) != "example" {
			continue
		}
		for _, m := range modules {
			if !used[filepath.Clean(m.dir)] {
				t.Errorf("%s does not use %s", env.dir, m.dir)
			}
		}
		vars := exampleTFVars(t, env)
		for _, v := range sortedKeys(env.mod.Variables) {
			if _, ok := vars[v]; env.mod.Variables[v].Required && !ok {
				t.Errorf("%s/terraform.tfvars.example does not set required variable %s", env.dir, v)
			}
		}
		for v := range vars {
			if _, ok := env.mod.Variables[v]; !ok {
				t.Errorf("%s/terraform.tfvars.example sets %s, which is not a variable", env.dir, v)
			}
		}
	}
}

var metaArgs = map[string]bool{"source": true, "version": true, "providers": true, "count": true, "for_each": true, "depends_on": true}

func exampleTFVars(t *testing.T, env *config) hcl.Attributes {
	t.Helper()
	f, diags := hclparse.NewParser().ParseHCLFile(filepath.Join(env.dir, "terraform.tfvars.example"))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	attrs, diags := f.Body.JustAttributes()
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return attrs
}

// TestReferencesResolve stands in for `terraform validate`, which needs the
// AWS provider downloaded: every var., local., module., data. and resource
// reference names something the module declares.
func TestReferencesResolve(t *testing.T) {
	modules, envs := configs(t)
	for _, c := range append(modules, envs...) {
		locals, iterators := map[string]bool{}, map[string]bool{}
		for _, b := range c.bodies {
			for _, blk := range b.Blocks {
				if blk.Type == "locals" {
					for name := range blk.Body.Attributes {
						locals[name] = true
					}
				}
			}
			walkBlocks(b, func(blk *hclsyntax.Block) {
				if blk.Type == "dynamic" {
					it := blk.Labels[0]
					if a, ok := blk.Body.Attributes["iterator"]; ok {
						it = hcl.ExprAsKeyword(a.Expr)
					}
					iterators[it] = true
				}
			})
		}
		outputs := map[string]map[string]*tfconfig.Output{}
		for name, call := range c.mod.ModuleCalls {
			outputs[name] = load(t, filepath.Join(c.dir, call.Source)).mod.Outputs
		}
		check := func(tr hcl.Traversal) string {
			root := tr.RootName()
			attr := func(i int) string {
				if i < len(tr) {
					if a, ok := tr[i].(hcl.TraverseAttr); ok {
						return a.Name
					}
				}
				return ""
			}
			switch {
			case root == "var":
				if c.mod.Variables[attr(1)] == nil {
					return "undeclared variable " + attr(1)
				}
			case root == "local":
				if !locals[attr(1)] {
					return "undefined local " + attr(1)
				}
			case root == "module":
				outs, ok := outputs[attr(1)]
				if !ok {
					return "unknown module " + attr(1)
				}
				if outs[attr(2)] == nil {
					return fmt.Sprintf("module %s has no output %s", attr(1), attr(2))
				}
			case root == "data":
				if c.mod.DataResources["data."+attr(1)+"."+attr(2)] == nil {
					return "unknown data source " + attr(1) + "." + attr(2)
				}
			case iterators[root], root == "each", root == "count", root == "path", root == "self", root == "terraform":
			default:
				if c.mod.ManagedResources[root+"."+attr(1)] == nil {
					return "unknown resource " + root + "." + attr(1)
				}
			}
			return ""
		}
		for _, b := range c.bodies {
			walkAttributes(b, func(a *hclsyntax.Attribute) {
				// Type constraints (type = string) and ignore_changes name
				// types and attributes, not objects.
				if a.Name == "type" && isTypeConstraint(a.Expr) || a.Name == "ignore_changes" {
					return
				}
				for _, tr := range a.Expr.Variables() {
					if problem := check(tr); problem != "" {
						t.Errorf("%s: %s", pos(c, a.SrcRange), problem)
					}
				}
			})
		}
	}
}

// TestLeastPrivilege: IAM policies are policy documents (no JSON strings),
// no Allow grants a wildcard S3 action or any S3 action on "*", every S3
// grant names the bucket, and the bucket blocks public access.
func TestLeastPrivilege(t *testing.T) {
	modules, envs := configs(t)
	statements := 0
	for _, c := range append(modules, envs...) {
		for _, b := range c.bodies {
			walkAttributes(b, func(a *hclsyntax.Attribute) {
				if a.Name != "policy" && a.Name != "assume_role_policy" && a.Name != "source_policy_documents" {
					return
				}
				docs := 0
				for _, tr := range a.Expr.Variables() {
					switch {
					case tr.RootName() == "each" || tr.RootName() == "count":
						// An index into a document per instance.
					case tr.RootName() != "data" || len(tr) < 2 || tr[1].(hcl.TraverseAttr).Name != "aws_iam_policy_document":
						t.Errorf("%s: %s must come from data.aws_iam_policy_document, not an inline JSON policy", pos(c, a.SrcRange), a.Name)
					default:
						docs++
					}
				}
				if docs == 0 {
					t.Errorf("%s: %s is not from an aws_iam_policy_document", pos(c, a.SrcRange), a.Name)
				}
			})
			for _, blk := range b.Blocks {
				if blk.Type != "data" || blk.Labels[0] != "aws_iam_policy_document" {
					continue
				}
				walkBlocks(blk.Body, func(st *hclsyntax.Block) {
					body := st.Body
					if st.Type == "dynamic" && st.Labels[0] == "statement" {
						return // its content block is visited next
					}
					if st.Type != "statement" && st.Type != "content" {
						return
					}
					if _, ok := body.Attributes["actions"]; !ok {
						return // a content block of another dynamic
					}
					statements++
					checkStatement(t, c, st)
				})
			}
		}
		if filepath.Base(c.dir) == "storage" {
			checkPublicAccessBlock(t, c)
		}
	}
	if statements < 10 {
		t.Errorf("found only %d policy statements: the walk is missing some", statements)
	}
}

func checkStatement(t *testing.T, c *config, st *hclsyntax.Block) {
	t.Helper()
	at := pos(c, st.DefRange())
	effect := "Allow"
	if a, ok := st.Body.Attributes["effect"]; ok {
		v, diags := a.Expr.Value(nil)
		if diags.HasErrors() {
			t.Errorf("%s: effect must be a literal", at)
			return
		}
		effect = v.AsString()
	}
	if _, ok := st.Body.Attributes["not_actions"]; ok && effect == "Allow" {
		t.Errorf("%s: an Allow with not_actions grants everything else", at)
	}
	if _, ok := st.Body.Attributes["not_resources"]; ok && effect == "Allow" {
		t.Errorf("%s: an Allow with not_resources grants every other resource", at)
	}
	v, diags := st.Body.Attributes["actions"].Expr.Value(nil)
	if diags.HasErrors() || !v.Type().IsTupleType() {
		t.Errorf("%s: actions must be a literal list of strings", at)
		return
	}
	s3 := false
	for _, a := range v.AsValueSlice() {
		action := a.AsString()
		if effect == "Allow" && (action == "*" || strings.HasPrefix(strings.ToLower(action), "s3:") && strings.Contains(action, "*")) {
			t.Errorf("%s: Allow grants %q", at, action)
		}
		if strings.HasSuffix(action, ":*") && effect == "Allow" {
			t.Errorf("%s: Allow grants every action of a service: %q", at, action)
		}
		s3 = s3 || strings.HasPrefix(strings.ToLower(action), "s3:")
	}
	if !s3 || effect != "Allow" {
		return
	}
	res, ok := st.Body.Attributes["resources"]
	if !ok {
		t.Errorf("%s: an S3 Allow without resources", at)
		return
	}
	tuple, ok := res.Expr.(*hclsyntax.TupleConsExpr)
	if !ok {
		t.Errorf("%s: S3 resources must be a list written out", at)
		return
	}
	for _, r := range tuple.Exprs {
		if v, diags := r.Value(nil); !diags.HasErrors() && v.AsString() == "*" {
			t.Errorf("%s: S3 actions on Resource \"*\"", at)
			continue
		}
		named := false
		for _, tr := range r.Variables() {
			root := tr.RootName()
			named = named || (root == "var" || root == "local") && tr[1].(hcl.TraverseAttr).Name == "bucket_arn" ||
				root == "aws_s3_bucket"
		}
		if !named {
			t.Errorf("%s: S3 resource %s is not the bucket or a path in it", at, pos(c, r.Range()))
		}
	}
}

func checkPublicAccessBlock(t *testing.T, c *config) {
	t.Helper()
	found := false
	for _, b := range c.bodies {
		for _, blk := range b.Blocks {
			if blk.Type != "resource" || blk.Labels[0] != "aws_s3_bucket_public_access_block" {
				continue
			}
			found = true
			for _, name := range []string{"block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"} {
				a, ok := blk.Body.Attributes[name]
				if !ok {
					t.Errorf("%s: public access block does not set %s", c.dir, name)
					continue
				}
				if v, diags := a.Expr.Value(nil); diags.HasErrors() || !v.True() {
					t.Errorf("%s: %s must be true", c.dir, name)
				}
			}
		}
	}
	if !found {
		t.Errorf("%s: no aws_s3_bucket_public_access_block", c.dir)
	}
}

// isTypeConstraint reports whether expr reads as a type: a keyword such as
// string, or a call such as list(string) or object({...}).
func isTypeConstraint(expr hclsyntax.Expression) bool {
	switch e := expr.(type) {
	case *hclsyntax.ScopeTraversalExpr:
		switch e.Traversal.RootName() {
		case "string", "number", "bool", "any":
			return len(e.Traversal) == 1
		}
	case *hclsyntax.FunctionCallExpr:
		switch e.Name {
		case "list", "set", "map", "object", "tuple", "optional":
			return true
		}
	}
	return false
}

func walkBlocks(b *hclsyntax.Body, fn func(*hclsyntax.Block)) {
	for _, blk := range b.Blocks {
		fn(blk)
		walkBlocks(blk.Body, fn)
	}
}

func walkAttributes(b *hclsyntax.Body, fn func(*hclsyntax.Attribute)) {
	for _, a := range b.Attributes {
		fn(a)
	}
	for _, blk := range b.Blocks {
		walkAttributes(blk.Body, fn)
	}
}

func pos(c *config, r hcl.Range) string {
	return fmt.Sprintf("%s:%d", filepath.Join(c.dir, filepath.Base(r.Filename)), r.Start.Line)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ----------------------------------------------------------- proxy tier
//
// The origin module puts `rewind proxy` instances behind the public load
// balancer; the origins are reachable only from the proxies and from each
// other. The tests below read the module's HCL (and always run); the
// module's own terraform test (modules/origin/tests, run by
// TestValidateAndPlan) checks the planned and applied values.

// originModule loads modules/origin.
func originModule(t *testing.T) *config {
	t.Helper()
	return load(t, filepath.Join("modules", "origin"))
}

// blocks returns the top-level blocks of c of that type and first label
// (a resource or data type), by their second label.
func (c *config) blocks(kind, typ string) map[string]*hclsyntax.Block {
	out := map[string]*hclsyntax.Block{}
	for _, b := range c.bodies {
		for _, blk := range b.Blocks {
			if blk.Type == kind && len(blk.Labels) == 2 && blk.Labels[0] == typ {
				out[blk.Labels[1]] = blk
			}
		}
	}
	return out
}

// refs lists what an expression refers to, as "root.attr" (var.x,
// aws_iam_role.proxy) or "data.type.name".
func refs(expr hclsyntax.Expression) []string {
	var out []string
	for _, tr := range expr.Variables() {
		parts := []string{tr.RootName()}
		for _, step := range tr[1:] {
			a, ok := step.(hcl.TraverseAttr)
			if !ok {
				break
			}
			parts = append(parts, a.Name)
			if len(parts) == 2 && parts[0] != "data" || len(parts) == 3 {
				break
			}
		}
		out = append(out, strings.Join(parts, "."))
	}
	return out
}

func refersTo(expr hclsyntax.Expression, what string) bool {
	return slices.Contains(refs(expr), what)
}

// source is the configuration text of a range.
func source(t *testing.T, r hcl.Range) string {
	t.Helper()
	b, err := os.ReadFile(r.Filename)
	if err != nil {
		t.Fatal(err)
	}
	return string(b[r.Start.Byte:r.End.Byte])
}

// literalStrings evaluates a literal list of strings (actions, values).
func literalStrings(t *testing.T, c *config, a *hclsyntax.Attribute) []string {
	t.Helper()
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() || !v.Type().IsTupleType() {
		t.Errorf("%s: %s must be a literal list of strings", pos(c, a.SrcRange), a.Name)
		return nil
	}
	var out []string
	for _, e := range v.AsValueSlice() {
		out = append(out, e.AsString())
	}
	return out
}

// resourceTexts is the source text of each element of a written-out
// resources list.
func resourceTexts(t *testing.T, c *config, st *hclsyntax.Block) []string {
	t.Helper()
	a, ok := st.Body.Attributes["resources"]
	if !ok {
		t.Errorf("%s: statement without resources", pos(c, st.DefRange()))
		return nil
	}
	tuple, ok := a.Expr.(*hclsyntax.TupleConsExpr)
	if !ok {
		t.Errorf("%s: resources must be a list written out", pos(c, a.SrcRange))
		return nil
	}
	var out []string
	for _, e := range tuple.Exprs {
		out = append(out, source(t, e.Range()))
	}
	return out
}

// TestProxyLeastPrivilege: the proxy role reads the node registry and
// nothing else of the bucket: s3:GetObject on nodes/* only, s3:ListBucket
// on the bucket only for the prefix nodes/, its own logs and its own
// lifecycle action; no PutObject or DeleteObject, nothing on streams/ or
// clips/; the SSM parameters that the managed Session Manager policy would
// open are denied; its role holds this policy and the two managed ones.
func TestProxyLeastPrivilege(t *testing.T) {
	c := originModule(t)
	doc, ok := c.blocks("data", "aws_iam_policy_document")["proxy"]
	if !ok {
		t.Fatal("modules/origin: no data.aws_iam_policy_document.proxy")
	}
	// Allowed action -> the exact resources it may name.
	allowed := map[string][]string{
		"s3:GetObject":                               {`"${var.bucket_arn}/nodes/*"`},
		"s3:ListBucket":                              {`var.bucket_arn`},
		"logs:CreateLogStream":                       {`"${aws_cloudwatch_log_group.proxy[0].arn}:*"`},
		"logs:PutLogEvents":                          {`"${aws_cloudwatch_log_group.proxy[0].arn}:*"`},
		"autoscaling:CompleteLifecycleAction":        {`"arn:${local.partition}:autoscaling:${local.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/${local.proxy_asg_name}"`},
		"autoscaling:RecordLifecycleActionHeartbeat": {`"arn:${local.partition}:autoscaling:${local.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/${local.proxy_asg_name}"`},
	}
	granted := map[string]bool{}
	deniedParams := false
	for _, st := range doc.Body.Blocks {
		if st.Type != "statement" {
			t.Errorf("%s: %s block in the proxy policy (only plain statements, so this test sees them all)", pos(c, st.DefRange()), st.Type)
			continue
		}
		at := pos(c, st.DefRange())
		effect := "Allow"
		if a, ok := st.Body.Attributes["effect"]; ok {
			v, diags := a.Expr.Value(nil)
			if diags.HasErrors() {
				t.Errorf("%s: effect must be a literal", at)
				continue
			}
			effect = v.AsString()
		}
		a, ok := st.Body.Attributes["actions"]
		if !ok {
			t.Errorf("%s: statement without actions", at)
			continue
		}
		actions := literalStrings(t, c, a)
		resources := resourceTexts(t, c, st)
		if effect == "Deny" {
			if slices.Contains(actions, "ssm:GetParameter") && slices.Contains(actions, "ssm:GetParameters") && slices.Contains(actions, "ssm:GetParametersByPath") && slices.Equal(resources, []string{`"*"`}) {
				deniedParams = true
			}
			continue
		}
		for _, r := range resources {
			if strings.Contains(r, "streams/") || strings.Contains(r, "clips/") {
				t.Errorf("%s: the proxy role names recordings or clips: %s", at, r)
			}
		}
		for _, action := range actions {
			want, ok := allowed[action]
			if !ok {
				t.Errorf("%s: the proxy role allows %s; it may only read nodes/* (GetObject), list nodes/ (ListBucket), write its logs and complete its lifecycle action", at, action)
				continue
			}
			if !slices.Equal(resources, want) {
				t.Errorf("%s: the proxy role allows %s on %v, want only %v", at, action, resources, want)
			}
			granted[action] = true
		}
		if slices.Contains(actions, "s3:ListBucket") {
			checkNodesPrefixCondition(t, c, st)
		}
	}
	for action := range allowed {
		if !granted[action] {
			t.Errorf("modules/origin: the proxy role lacks %s, which it needs", action)
		}
	}
	if !deniedParams {
		t.Error("modules/origin: the proxy policy must deny ssm:GetParameter, GetParameters and GetParametersByPath on \"*\" (AmazonSSMManagedInstanceCore allows them on every parameter, the publish and playback secrets included)")
	}

	// The role: this policy, ECR read and Session Manager; nothing else.
	if _, ok := c.blocks("resource", "aws_iam_role")["proxy"]; !ok {
		t.Fatal("modules/origin: no aws_iam_role.proxy")
	}
	policies := 0
	for name, rp := range c.blocks("resource", "aws_iam_role_policy") {
		if !refersTo(rp.Body.Attributes["role"].Expr, "aws_iam_role.proxy") {
			if refersTo(rp.Body.Attributes["policy"].Expr, "data.aws_iam_policy_document.proxy") {
				t.Errorf("aws_iam_role_policy.%s gives the proxy policy to another role", name)
			}
			continue
		}
		policies++
		if got := refs(rp.Body.Attributes["policy"].Expr); !slices.Equal(got, []string{"data.aws_iam_policy_document.proxy"}) {
			t.Errorf("aws_iam_role_policy.%s: the proxy role's policy comes from %v, want data.aws_iam_policy_document.proxy", name, got)
		}
	}
	if policies != 1 {
		t.Errorf("the proxy role has %d inline policies, want 1", policies)
	}
	managed := map[string]bool{}
	for name, att := range c.blocks("resource", "aws_iam_role_policy_attachment") {
		if !refersTo(att.Body.Attributes["role"].Expr, "aws_iam_role.proxy") {
			continue
		}
		arn := source(t, att.Body.Attributes["policy_arn"].Expr.Range())
		switch {
		case strings.HasSuffix(arn, `:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"`):
			managed["ecr"] = true
		case strings.HasSuffix(arn, `:iam::aws:policy/AmazonSSMManagedInstanceCore"`):
			managed["ssm"] = true
		default:
			t.Errorf("aws_iam_role_policy_attachment.%s attaches %s to the proxy role", name, arn)
		}
	}
	if !managed["ecr"] {
		t.Error("the proxy role cannot pull the image (no AmazonEC2ContainerRegistryReadOnly)")
	}
	for _, kind := range []string{"aws_iam_policy", "aws_iam_role_policies_exclusive", "aws_iam_policy_attachment"} {
		if len(c.blocks("resource", kind)) > 0 {
			t.Errorf("modules/origin: %s resources bypass this test", kind)
		}
	}
	profile, ok := c.blocks("resource", "aws_iam_instance_profile")["proxy"]
	if !ok || !refersTo(profile.Body.Attributes["role"].Expr, "aws_iam_role.proxy") {
		t.Error("aws_iam_instance_profile.proxy must hold the proxy role")
	}
	lt, ok := c.blocks("resource", "aws_launch_template")["proxy"]
	if !ok {
		t.Fatal("modules/origin: no aws_launch_template.proxy")
	}
	usesProfile := false
	for _, b := range lt.Body.Blocks {
		if b.Type == "iam_instance_profile" {
			usesProfile = refersTo(b.Body.Attributes["arn"].Expr, "aws_iam_instance_profile.proxy")
		}
	}
	if !usesProfile {
		t.Error("aws_launch_template.proxy must run with aws_iam_instance_profile.proxy")
	}
}

// checkNodesPrefixCondition: the proxy's ListBucket holds for the prefix
// nodes/ alone (the proxy lists exactly that).
func checkNodesPrefixCondition(t *testing.T, c *config, st *hclsyntax.Block) {
	t.Helper()
	for _, cond := range st.Body.Blocks {
		if cond.Type != "condition" {
			continue
		}
		attr := func(name string) string {
			a, ok := cond.Body.Attributes[name]
			if !ok {
				return ""
			}
			v, diags := a.Expr.Value(nil)
			if diags.HasErrors() || v.Type().FriendlyName() != "string" {
				return ""
			}
			return v.AsString()
		}
		if attr("test") == "StringEquals" && attr("variable") == "s3:prefix" {
			if v := literalStrings(t, c, cond.Body.Attributes["values"]); slices.Equal(v, []string{"nodes/"}) {
				return
			}
		}
	}
	t.Errorf("%s: the proxy's s3:ListBucket must be limited to s3:prefix = nodes/ (StringEquals)", pos(c, st.DefRange()))
}

// TestOriginIngressOnlyFromProxies: with the proxy tier, every ingress rule
// of the origins' security group names the proxies' or the origins' own
// security group as its source; rules from CIDR blocks exist only for
// proxy_enabled = false. Origins take only HTTP from each other.
func TestOriginIngressOnlyFromProxies(t *testing.T) {
	c := originModule(t)
	if _, ok := c.blocks("resource", "aws_security_group")["proxy"]; !ok {
		t.Fatal("modules/origin: no aws_security_group.proxy")
	}
	for name, sg := range c.blocks("resource", "aws_security_group") {
		for _, b := range sg.Body.Blocks {
			if b.Type == "ingress" || b.Type == "egress" {
				t.Errorf("aws_security_group.%s: inline %s rules bypass this test; use aws_vpc_security_group_*_rule", name, b.Type)
			}
		}
		if _, ok := sg.Body.Attributes["ingress"]; ok {
			t.Errorf("aws_security_group.%s: inline ingress bypasses this test", name)
		}
	}
	if len(c.blocks("resource", "aws_security_group_rule")) > 0 {
		t.Error("modules/origin: aws_security_group_rule resources bypass this test; use aws_vpc_security_group_ingress_rule")
	}
	fromProxies, fromOrigins := map[string]bool{}, 0
	for name, rule := range c.blocks("resource", "aws_vpc_security_group_ingress_rule") {
		at := pos(c, rule.DefRange())
		if !refersTo(rule.Body.Attributes["security_group_id"].Expr, "aws_security_group.this") {
			continue // another group's rule (the proxies')
		}
		src, bySG := rule.Body.Attributes["referenced_security_group_id"]
		for _, other := range []string{"cidr_ipv4", "cidr_ipv6", "prefix_list_id"} {
			if _, ok := rule.Body.Attributes[other]; ok && bySG {
				t.Errorf("%s: aws_vpc_security_group_ingress_rule.%s has both a security group and %s", at, name, other)
			}
		}
		switch {
		case bySG && refersTo(src.Expr, "aws_security_group.proxy"):
			// Its ports come from a literal map in for_each.
			fe, ok := rule.Body.Attributes["for_each"]
			if !ok {
				fromProxies[source(t, rule.Body.Attributes["from_port"].Expr.Range())] = true
				continue
			}
			for _, port := range []string{"var.rtmp_port", "var.http_port"} {
				if strings.Contains(source(t, fe.Expr.Range()), port) {
					fromProxies[port] = true
				}
			}
		case bySG && refersTo(src.Expr, "aws_security_group.this"):
			fromOrigins++
			for _, p := range []string{"from_port", "to_port"} {
				if got := source(t, rule.Body.Attributes[p].Expr.Range()); got != "var.http_port" {
					t.Errorf("%s: origins may take only HTTP (node-to-node pull) from each other; %s is %s", at, p, got)
				}
			}
		case bySG:
			t.Errorf("%s: aws_vpc_security_group_ingress_rule.%s lets %s reach the origins; only the proxies and the origins may", at, name, source(t, src.Expr.Range()))
		default:
			if !onlyWithoutProxies(rule) {
				t.Errorf("%s: aws_vpc_security_group_ingress_rule.%s opens the origins to addresses: allowed only with for_each = var.proxy_enabled ? {} : ...", at, name)
			}
		}
	}
	if !fromProxies["var.rtmp_port"] || !fromProxies["var.http_port"] {
		t.Errorf("the origins must take RTMP and HTTP from the proxies (found %v)", sortedKeys(fromProxies))
	}
	if fromOrigins == 0 {
		t.Error("the origins must take HTTP from each other (node-to-node pull)")
	}
}

// onlyWithoutProxies reports whether a rule's for_each is
// `var.proxy_enabled ? {} : ...`: it exists only without the proxy tier.
func onlyWithoutProxies(rule *hclsyntax.Block) bool {
	fe, ok := rule.Body.Attributes["for_each"]
	if !ok {
		return false
	}
	cond, ok := fe.Expr.(*hclsyntax.ConditionalExpr)
	if !ok || !slices.Equal(refs(cond.Condition), []string{"var.proxy_enabled"}) {
		return false
	}
	if _, ok := cond.Condition.(*hclsyntax.ScopeTraversalExpr); !ok {
		return false // not a plain var.proxy_enabled (a negation, say)
	}
	empty, ok := cond.TrueResult.(*hclsyntax.ObjectConsExpr)
	return ok && len(empty.Items) == 0
}

// TestNLBTargetsProxies: the load balancer's listeners forward to its
// target groups, which hold the proxy group; the origin group is in them
// only without the proxy tier.
func TestNLBTargetsProxies(t *testing.T) {
	c := originModule(t)
	listeners := c.blocks("resource", "aws_lb_listener")
	if len(listeners) == 0 {
		t.Fatal("modules/origin: no aws_lb_listener")
	}
	for name, l := range listeners {
		forwards := false
		for _, b := range l.Body.Blocks {
			if b.Type == "default_action" {
				a, ok := b.Body.Attributes["target_group_arn"]
				forwards = ok && refersTo(a.Expr, "aws_lb_target_group.this")
			}
		}
		if !forwards {
			t.Errorf("aws_lb_listener.%s must forward to aws_lb_target_group.this", name)
		}
	}
	groups := c.blocks("resource", "aws_autoscaling_group")
	proxy, ok := groups["proxy"]
	if !ok {
		t.Fatal("modules/origin: no aws_autoscaling_group.proxy")
	}
	if a, ok := proxy.Body.Attributes["target_group_arns"]; !ok || !refersTo(a.Expr, "aws_lb_target_group.this") {
		t.Error("aws_autoscaling_group.proxy must be in the load balancer's target groups")
	}
	var lt string
	for _, b := range proxy.Body.Blocks {
		if b.Type == "launch_template" {
			lt = strings.Join(refs(b.Body.Attributes["id"].Expr), ",")
		}
	}
	if lt != "aws_launch_template.proxy" {
		t.Errorf("aws_autoscaling_group.proxy runs launch template %q, want aws_launch_template.proxy", lt)
	}
	origin := groups["this"]
	if origin == nil {
		t.Fatal("modules/origin: no aws_autoscaling_group.this")
	}
	if a, ok := origin.Body.Attributes["target_group_arns"]; ok {
		cond, isCond := a.Expr.(*hclsyntax.ConditionalExpr)
		empty := false
		if isCond {
			tuple, ok := cond.TrueResult.(*hclsyntax.TupleConsExpr)
			empty = ok && len(tuple.Exprs) == 0 && slices.Equal(refs(cond.Condition), []string{"var.proxy_enabled"})
		}
		if !empty {
			t.Error("aws_autoscaling_group.this (origins) may be in the target groups only without proxies: target_group_arns = var.proxy_enabled ? [] : ...")
		}
	}
	hooks := c.blocks("resource", "aws_autoscaling_lifecycle_hook")
	for _, want := range []struct{ hook, group string }{{"drain", "aws_autoscaling_group.this"}, {"proxy_drain", "aws_autoscaling_group.proxy"}} {
		h, ok := hooks[want.hook]
		if !ok || !refersTo(h.Body.Attributes["autoscaling_group_name"].Expr, want.group) {
			t.Errorf("aws_autoscaling_lifecycle_hook.%s must hold the instances of %s while they drain", want.hook, want.group)
		}
	}
}
