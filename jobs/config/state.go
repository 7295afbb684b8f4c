package config

import (
	"errors"
	"fmt"
	"strings"
)

// State store kinds, as Config.StateType holds them.
const (
	StateSQLite   = "sqlite"
	StatePostgres = "postgres"
)

// stateYAML is the `state:` key: a path of a SQLite file, a postgres://
// (or postgresql://) URL, or a mapping
//
//	state: {type: postgres, dsn: "postgres://…", schema: nightjar}
//	state: {type: sqlite, path: .nightjar/state.db}
type stateYAML struct {
	Type   string `yaml:"type"`
	DSN    string `yaml:"dsn"`
	Schema string `yaml:"schema"`
	Path   string `yaml:"path"`
}

// UnmarshalYAML takes the string form or the mapping.
func (s *stateYAML) UnmarshalYAML(unmarshal func(any) error) error {
	var text string
	if err := unmarshal(&text); err == nil {
		if isPostgresURL(text) {
			*s = stateYAML{Type: StatePostgres, DSN: text}
		} else {
			*s = stateYAML{Type: StateSQLite, Path: text}
		}
		return nil
	}
	type plain stateYAML
	var p plain
	if err := unmarshal(&p); err != nil {
		return err
	}
	*s = stateYAML(p)
	switch s.Type {
	case StatePostgres:
		if s.DSN == "" {
			return errors.New("type postgres needs dsn: the server's connection string (postgres://user@host:5432/db)")
		}
		if s.Path != "" {
			return errors.New("path is for type sqlite; type postgres takes dsn and schema")
		}
	case StateSQLite, "":
		s.Type = StateSQLite
		if s.DSN != "" || s.Schema != "" {
			return errors.New("dsn and schema are for type postgres; type sqlite takes path")
		}
	default:
		return fmt.Errorf("type %q is not a state store: sqlite (the default, a file) or postgres", s.Type)
	}
	return nil
}

func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}
