package xlsx

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestIsDateFormat(t *testing.T) {
	tests := map[string]bool{
		"yyyy-mm-dd": true, "d/m/yy h:mm": true, "[h]:mm:ss": true, "mmm yyyy": true,
		"0.00": false, "#,##0": false, "General": false, `0.0"d"`: false, "[Red]0.00": false,
		`\d0`: false, "0%;[Red]-0%": false, "@": false,
	}
	for code, want := range tests {
		if got := isDateFormat(code); got != want {
			t.Errorf("isDateFormat(%q) = %v, want %v", code, got, want)
		}
	}
}

func TestSerialTime(t *testing.T) {
	tests := []struct {
		serial   float64
		date1904 bool
		want     time.Time
	}{
		{1, false, time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)},
		{59, false, time.Date(1900, 2, 28, 0, 0, 0, 0, time.UTC)},
		{61, false, time.Date(1900, 3, 1, 0, 0, 0, 0, time.UTC)},
		{45306.4375, false, time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)},
		{0, true, time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)},
		{43844.5, true, time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC)},
	}
	for _, tc := range tests {
		if got := serialTime(tc.serial, tc.date1904); !got.Equal(tc.want) {
			t.Errorf("serialTime(%v, %v) = %v, want %v", tc.serial, tc.date1904, got, tc.want)
		}
	}
}

func TestHeaderNames(t *testing.T) {
	s := func(v string) cell { return cell{kind: kindString, s: v} }
	rows := map[int64][]cell{
		1: {s("Lead"), {}, {}, s("Meta")},
		2: {s("id"), s("email"), {}, s("id"), {}, {}},
	}
	// A1:C1 is merged above the header; D2:E2 is merged in it.
	merges := []mergeRange{{r1: 1, r2: 1, c1: 0, c2: 2}, {r1: 2, r2: 2, c1: 3, c2: 4}}
	got := headerNames(rows, 2, merges)
	want := []string{"id", "email", "col_3", "id_2", "id_2_2"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
}
