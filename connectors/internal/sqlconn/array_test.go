package sqlconn

import (
	"strings"
	"testing"
	"time"

	"github.com/nightjar-etl/nightjar/etl"
)

// TestParseTimeOutsideGoYears reads instants PostgreSQL spells with a
// year Go cannot parse, in a zone's local time: they are within 1-9999
// in UTC.
func TestParseTimeOutsideGoYears(t *testing.T) {
	for text, want := range map[string]time.Time{
		"10000-01-01 05:44:59.999999+05:45": time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC),
		"0001-12-31 23:00:00-01 BC":         time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		"0001-01-01 00:53:28+00:53:28":      time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		"2024-02-29 12:00:00+00":            time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC),
	} {
		got, err := ParseTime(text)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", text, got, err, want)
		}
	}
	for _, bad := range []string{"infinity", "10000-13-01 00:00:00+00", "-infinity"} {
		if got, err := ParseTime(bad); err == nil {
			t.Errorf("ParseTime(%q) = %v, want an error", bad, got)
		}
	}
}

// TestParseArrayRefuses: what an array field cannot hold is an error
// naming the value, never a null or another value.
func TestParseArrayRefuses(t *testing.T) {
	for _, c := range []struct {
		text string
		elem etl.Type
		want string
	}{
		{"[0:1]={1,2}", etl.TypeInt, "bounds [0:1]"},
		{"{1,2.5}", etl.TypeInt, `"2.5" is not an integer`},
		{"{NaN}", etl.TypeDecimal, "not a decimal"},
		{"{infinity}", etl.TypeTimestamp, "not a time"},
		{`{"\\x0g"}`, etl.TypeBytes, "hex form"},
		{"{1,2", etl.TypeInt, "not closed"},
		{"{1}x", etl.TypeInt, "text after the array"},
	} {
		_, err := ParseArray(c.text, c.elem)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseArray(%q, %s): %v, want an error saying %q", c.text, c.elem, err, c.want)
		}
	}
}
