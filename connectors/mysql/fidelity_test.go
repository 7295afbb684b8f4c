package mysql

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn/sqlconntest"
	"github.com/nightjar-etl/nightjar/etl"
)

// A negative zero, which a DOUBLE cannot hold, and a year past 9999 are
// refused naming their row and field, through INSERT and LOAD DATA alike.
func TestUnrepresentableValuesRefused(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	database, _ := freshDatabase(t, dsn)
	s := etl.MustSchema(etl.Field{Name: "k", Type: etl.TypeInt}, etl.Field{Name: "ratio", Type: etl.TypeFloat}, etl.Field{Name: "at", Type: etl.TypeTimestamp})
	ok := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, insertOnly := range []bool{false, true} {
		for _, tc := range []struct {
			row  []any
			want string
		}{
			{[]any{int64(2), math.Copysign(0, -1), ok}, `field "ratio": -0 cannot be stored in a MariaDB/MySQL DOUBLE`},
			{[]any{int64(2), 1.0, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, `field "at": 10000-01-01T00:00:00Z cannot be stored in a MariaDB/MySQL DATETIME`},
		} {
			tg, _ := testTarget(t, dsn, database, sqlconn.TargetConfig{Table: "nz", Mode: sqlconn.ModeAppend, Schema: sqlconn.SchemaEvolve}, insertOnly, nil)
			err := writeAll(context.Background(), tg, "nz", 1, batchOf(t, 1, s, []any{int64(1), 0.5, ok}, tc.row))
			var un *sqlconn.UnrepresentableError
			if !errors.As(err, &un) || !etl.IsPermanent(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("insertOnly %v: err = %v, want %s", insertOnly, err, tc.want)
			}
		}
	}
}

// Go's zero time (PostgreSQL's 0001-01-01) lands as 0001-01-01, not as
// MySQL's zero date 0000-00-00, through INSERT and LOAD DATA alike.
func TestYearOneIsNotZeroDate(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	database, db := freshDatabase(t, dsn)
	s := etl.MustSchema(etl.Field{Name: "k", Type: etl.TypeInt}, etl.Field{Name: "ts", Type: etl.TypeTimestamp}, etl.Field{Name: "d", Type: etl.TypeDate})
	for i, insertOnly := range []bool{false, true} {
		table := []string{"y1_infile", "y1_insert"}[i]
		tg, _ := testTarget(t, dsn, database, sqlconn.TargetConfig{Table: table, Mode: sqlconn.ModeAppend, Schema: sqlconn.SchemaEvolve}, insertOnly, nil)
		b := batchOf(t, 1, s, []any{int64(1), time.Time{}, time.Time{}})
		if err := writeAll(context.Background(), tg, table, 1, b); err != nil {
			t.Fatal(err)
		}
		got := sqlconntest.Query(t, db, "SELECT CAST(ts AS CHAR), CAST(d AS CHAR) FROM "+table)
		if diff := cmp.Diff([][]string{{"0001-01-01 00:00:00.000000", "0001-01-01"}}, got); diff != "" {
			t.Errorf("insertOnly %v (-want +got):\n%s", insertOnly, diff)
		}
	}
}
