package jsonenc

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzAppendString checks both modes against encoding/json: the literal
// decodes to what json.Marshal's does, and html mode leaves no <, >, &,
// U+2028 or U+2029 unescaped.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `quo"te\`, "line\nbreak\r\ttab\b\f", "<a href='x'>&</a>", "\u2028\u2029", "\xff\xfe", "größe \x01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var wantBack string
		if err := json.Unmarshal(want, &wantBack); err != nil {
			t.Fatal(err)
		}
		for _, html := range []bool{false, true} {
			got := AppendString(nil, s, html)
			var back string
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatalf("html=%v: %s does not decode: %v", html, got, err)
			}
			if back != wantBack {
				t.Fatalf("html=%v: %s decodes to %q, want %q", html, got, back, wantBack)
			}
			if html && (bytes.ContainsAny(got, "<>&") || bytes.Contains(got, []byte("\u2028")) || bytes.Contains(got, []byte("\u2029"))) {
				t.Fatalf("html: %s has characters unsafe in HTML", got)
			}
		}
	})
}
