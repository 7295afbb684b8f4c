package files_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nightjar-etl/nightjar/connectors/files"
	"github.com/nightjar-etl/nightjar/etl"
)

var runDate = time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)

func openTarget(t *testing.T, dir, path string) *files.Target {
	t.Helper()
	tgt, err := files.NewTarget(files.TargetConfig{Path: path}, etl.BuildEnv{BaseDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := tgt.Open(context.Background(), etl.TargetEnv{Job: "leads", RunID: 7, RunDate: runDate}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tgt.Close() })
	return tgt
}

// dirEntries lists the names in dir, temporary files included.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// stringBatch builds a batch of string columns; nil is null.
func stringBatch(names []string, rows ...[]any) *etl.Batch {
	fields := make([]etl.Field, len(names))
	for i, n := range names {
		fields[i] = etl.Field{Name: n, Type: etl.TypeString}
	}
	b := etl.NewBatch(etl.MustSchema(fields...), len(rows))
	for i, r := range rows {
		for j, v := range r {
			if err := b.Cols[j].Append(v); err != nil {
				panic(err)
			}
		}
		b.Origins = append(b.Origins, etl.Origin{File: "test", Line: int64(i + 1)})
	}
	return b
}

func TestTargetInvisibleUntilCommit(t *testing.T) {
	dir := t.TempDir()
	tgt := openTarget(t, dir, "out/{{ .Job }}-{{ .RunID }}-{{ .RunDate }}.csv")
	ctx := context.Background()
	if err := tgt.Write(ctx, stringBatch([]string{"a"}, []any{"x"})); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out", "leads-7-2026-11-25.csv")
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("output visible before commit (stat err %v)", err)
	}
	names := dirEntries(t, filepath.Join(dir, "out"))
	if len(names) != 1 || !strings.HasPrefix(names[0], ".leads-7-2026-11-25.csv.tmp-") {
		t.Fatalf("before commit the directory holds %v, want one temporary file", names)
	}
	if err := tgt.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "a\nx\n" {
		t.Errorf("output %q", got)
	}
	if names := dirEntries(t, filepath.Join(dir, "out")); !cmp.Equal(names, []string{"leads-7-2026-11-25.csv"}) {
		t.Errorf("after commit the directory holds %v", names)
	}
	if tgt.Durability() != etl.DurableAtCommit {
		t.Errorf("durability %v, want DurableAtCommit", tgt.Durability())
	}
}

func TestTargetCloseWithoutCommitLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	tgt := openTarget(t, dir, "out/x.jsonl")
	if err := tgt.Write(context.Background(), stringBatch([]string{"a"}, []any{"x"})); err != nil {
		t.Fatal(err)
	}
	if err := tgt.Close(); err != nil {
		t.Fatal(err)
	}
	if names := dirEntries(t, filepath.Join(dir, "out")); len(names) != 0 {
		t.Errorf("after close without commit the directory holds %v", names)
	}
}

func TestTargetZeroRowsKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "out/x.csv", "yesterday\n")
	tgt := openTarget(t, dir, "out/x.csv")
	ctx := context.Background()
	if err := tgt.Write(ctx, stringBatch([]string{"a"})); err != nil {
		t.Fatal(err)
	}
	if err := tgt.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "out", "x.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "yesterday\n" {
		t.Errorf("old output became %q", got)
	}
	if names := dirEntries(t, filepath.Join(dir, "out")); !cmp.Equal(names, []string{"x.csv"}) {
		t.Errorf("directory holds %v", names)
	}
}

func TestTargetCSVRoundTrip(t *testing.T) {
	dir := t.TempDir()
	names := []string{"id", "note", "empty"}
	rows := [][]any{
		{"1", "plain", nil},
		{"2", "comma, inside", ""},
		{"3", "crlf\r\ninside", "\r"},
		{"4", `quote "q" here`, nil},
		{"5", "lf\nonly", "\r"},
		{nil, "", " lead and trail "},
	}
	tgt := openTarget(t, dir, "out.csv")
	ctx := context.Background()
	// Two batches; the second reorders and drops a field.
	if err := tgt.Write(ctx, stringBatch(names, rows[:3]...)); err != nil {
		t.Fatal(err)
	}
	second := stringBatch([]string{"note", "id"})
	for _, r := range rows[3:] {
		second.Cols[0].Append(r[1])
		second.Cols[1].Append(r[0])
		second.Origins = append(second.Origins, etl.Origin{File: "test"})
	}
	if err := tgt.Write(ctx, second); err != nil {
		t.Fatal(err)
	}
	if err := tgt.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	res := readAll(t, newSource(t, dir, files.SourceConfig{Path: "out.csv"}), etl.SourceEnv{Job: "j"})
	var got [][]any
	for _, r := range res.Rows {
		got = append(got, r.Values)
	}
	want := append(rows[:3:3], []any{"4", `quote "q" here`, nil}, []any{"5", "lf\nonly", nil}, []any{nil, "", nil})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
	if len(res.Rejects) != 0 {
		t.Errorf("rejects %+v", res.Rejects)
	}
}

func TestTargetCSVUnknownFieldIsError(t *testing.T) {
	dir := t.TempDir()
	tgt := openTarget(t, dir, "out.csv")
	ctx := context.Background()
	if err := tgt.Write(ctx, stringBatch([]string{"a"}, []any{"x"})); err != nil {
		t.Fatal(err)
	}
	err := tgt.Write(ctx, stringBatch([]string{"a", "extra"}, []any{"x", "y"}))
	if err == nil || !strings.Contains(err.Error(), `field "extra" is not in the CSV header`) {
		t.Errorf("err = %v, want one naming field \"extra\"", err)
	}
}

func TestTargetJSONLTyped(t *testing.T) {
	dir := t.TempDir()
	s := etl.MustSchema(
		etl.Field{Name: "s", Type: etl.TypeString}, etl.Field{Name: "i", Type: etl.TypeInt},
		etl.Field{Name: "f", Type: etl.TypeFloat}, etl.Field{Name: "b", Type: etl.TypeBool},
		etl.Field{Name: "t", Type: etl.TypeTimestamp}, etl.Field{Name: "j", Type: etl.TypeJSON},
	)
	b := etl.NewBatch(s, 2)
	vals := []any{"a\"\n\x01é", int64(-3), 1.5, true, time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)), map[string]any{"k": []any{1, "v"}}}
	for j, v := range vals {
		if err := b.Cols[j].Append(v); err != nil {
			t.Fatal(err)
		}
		b.Cols[j].AppendNull()
	}
	b.Origins = append(b.Origins, etl.Origin{}, etl.Origin{})
	tgt := openTarget(t, dir, "out.jsonl")
	ctx := context.Background()
	if err := tgt.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := tgt.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "out.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"s":"a\"\n\u0001é","i":-3,"f":1.5,"b":true,"t":"2026-01-02T02:04:05Z","j":{"k":[1,"v"]}}` + "\n" +
		`{"s":null,"i":null,"f":null,"b":null,"t":null,"j":null}` + "\n"
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	// And it reads back typed.
	res := readAll(t, newSource(t, dir, files.SourceConfig{Path: "out.jsonl"}), etl.SourceEnv{Job: "j"})
	if len(res.Rows) != 2 || !cmp.Equal(res.Rows[0].Values[:4], []any{"a\"\n\x01é", int64(-3), 1.5, true}) {
		t.Errorf("read back %+v", res.Rows)
	}
}

func TestNewTargetErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  files.TargetConfig
		path []string
	}{
		{"no path", files.TargetConfig{}, []string{"path"}},
		{"bad template", files.TargetConfig{Path: "out/{{ .Job"}, []string{"path"}},
		{"unknown template field", files.TargetConfig{Path: "out/{{ .Nope }}.csv"}, []string{"path"}},
		{"unknown extension", files.TargetConfig{Path: "out/x.dat"}, []string{"path"}},
		{"unknown format", files.TargetConfig{Path: "out/x", Format: "yaml"}, []string{"format"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := files.NewTarget(tc.cfg, etl.BuildEnv{BaseDir: t.TempDir()})
			var fe *etl.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a FieldError", err)
			}
			if diff := cmp.Diff(tc.path, fe.Path); diff != "" {
				t.Errorf("path (-want +got):\n%s", diff)
			}
		})
	}
}
