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

// A negative zero, which a DOUBLE cannot hold, is refused naming its row
// and field, through INSERT and LOAD DATA alike.
func TestNegativeZeroRefused(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	database, _ := freshDatabase(t, dsn)
	s := etl.MustSchema(etl.Field{Name: "k", Type: etl.TypeInt}, etl.Field{Name: "ratio", Type: etl.TypeFloat})
	for _, insertOnly := range []bool{false, true} {
		tg, _ := testTarget(t, dsn, database, sqlconn.TargetConfig{Table: "nz", Mode: sqlconn.ModeAppend, Schema: sqlconn.SchemaEvolve}, insertOnly, nil)
		b := batchOf(t, 1, s, []any{int64(1), 0.5}, []any{int64(2), math.Copysign(0, -1)})
		err := writeAll(context.Background(), tg, "nz", 1, b)
		var un *sqlconn.UnrepresentableError
		if !errors.As(err, &un) || !etl.IsPermanent(err) || !strings.Contains(err.Error(), `field "ratio": -0`) || !strings.Contains(err.Error(), "DOUBLE") {
			t.Errorf("insertOnly %v: err = %v, want -0 refused naming the field and the column type", insertOnly, err)
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
