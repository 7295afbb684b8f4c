package csvfile

import (
	"strings"
	"testing"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
)

// TestBounds: an input just over each bound fails (field, record: the
// file cannot be split into records past it) or is rejected (columns)
// naming its line and field, and the rest loads.
func TestBounds(t *testing.T) {
	limits := fileformat.CSVOptions{Delimiter: ",", Header: true, MaxFieldSize: 10, MaxColumns: 3, MaxRecordSize: 25}
	tests := []struct {
		name, in, wantErr, wantReject string
		rows                          int
	}{
		{name: "field at the bound", in: "a,b\n1," + strings.Repeat("x", 10) + "\n", rows: 1},
		{name: "field over", in: "a,b\n1,2\n1," + strings.Repeat("x", 11) + "\n",
			wantErr: "line 3: field 2 is larger than 10 bytes (csv.max_field_size; an unterminated quote?)"},
		{name: "quoted field over", in: "a,b\n1,\"" + strings.Repeat("x", 11) + "\"\n",
			wantErr: "line 2: field 2 is larger than 10 bytes (csv.max_field_size"},
		{name: "columns at the bound", in: "a,b,c\n1,2,3\n", rows: 1},
		{name: "columns over", in: "a,b,c\n1,2,3,4\n5,6,7\n", rows: 1,
			wantReject: "line 2: more than 3 fields (csv.max_columns)"},
		{name: "record over", in: "a,b,c\n" + strings.Repeat("x", 9) + "," + strings.Repeat("y", 9) + "," + strings.Repeat("z", 9) + "\n",
			wantErr: "line 2: record is larger than 25 bytes (csv.max_record_size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeAll(t, tt.in, fileformat.DecodeOptions{CSV: limits}, 100)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Rows) != tt.rows {
				t.Errorf("%d rows, want %d", len(got.Rows), tt.rows)
			}
			if tt.wantReject != "" && (len(got.Rejects) != 1 || got.Rejects[0].Reason != tt.wantReject || got.Rejects[0].Origin.File != "in.csv") {
				t.Errorf("rejects = %+v, want one in in.csv: %q", got.Rejects, tt.wantReject)
			}
		})
	}
	_, err := decodeAll(t, "a\n", fileformat.DecodeOptions{CSV: fileformat.CSVOptions{Delimiter: ",", MaxColumns: -1}}, 10)
	if err == nil || !strings.Contains(err.Error(), "csv.max_columns -1 is negative") {
		t.Errorf("negative bound: err = %v", err)
	}
}
