package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// envName is the environment variable that sets a flag: --segment-duration
// is REWIND_SEGMENT_DURATION.
func envName(flagName string) string {
	return "REWIND_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags parses args into fs, then fills every flag not given on the
// command line from the environment, then from the YAML file named by
// --config (keys are the flag names). Command line beats environment beats
// file beats default.
func parseFlags(fs *flag.FlagSet, args []string) error {
	configPath := fs.String("config", "", "optional YAML file whose keys are these flag names")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["config"] {
		if v, ok := os.LookupEnv(envName("config")); ok {
			*configPath = v
			set["config"] = true
		}
	}
	var file map[string]any
	if *configPath != "" {
		b, err := os.ReadFile(*configPath)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		if err := yaml.Unmarshal(b, &file); err != nil {
			return fmt.Errorf("config %s: %w", *configPath, err)
		}
		for k := range file {
			if fs.Lookup(k) == nil || k == "config" {
				return fmt.Errorf("config %s: unknown setting %q", *configPath, k)
			}
		}
	}
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || f.Name == "config" {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", envName(f.Name), err))
			}
			return
		}
		if v, ok := file[f.Name]; ok {
			if err := fs.Set(f.Name, yamlString(v)); err != nil {
				errs = append(errs, fmt.Errorf("config %s: %w", f.Name, err))
			}
		}
	})
	return errors.Join(errs...)
}

// yamlString renders a YAML value as a flag would take it; a list becomes
// a comma-separated string.
func yamlString(v any) string {
	if list, ok := v.([]any); ok {
		parts := make([]string, len(list))
		for i, x := range list {
			parts[i] = fmt.Sprint(x)
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v)
}
