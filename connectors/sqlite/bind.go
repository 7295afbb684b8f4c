package sqlite

/*
#include <stdint.h>

// The SQLite C API, linked from go-sqlite3's amalgamation in the same binary.
typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
extern int sqlite3_bind_text64(sqlite3_stmt*, int, const char*, uint64_t, void(*)(void*), unsigned char);
extern int sqlite3_bind_int64(sqlite3_stmt*, int, int64_t);
extern int sqlite3_bind_double(sqlite3_stmt*, int, double);
extern int sqlite3_bind_null(sqlite3_stmt*, int);
extern int sqlite3_bind_blob64(sqlite3_stmt*, int, const void*, uint64_t, void(*)(void*));
extern int sqlite3_step(sqlite3_stmt*);
extern int sqlite3_reset(sqlite3_stmt*);
extern int sqlite3_clear_bindings(sqlite3_stmt*);
extern sqlite3* sqlite3_db_handle(sqlite3_stmt*);
extern const char* sqlite3_errmsg(sqlite3*);

enum { NJ_NULL = 0, NJ_TEXT = 1, NJ_INT = 2, NJ_FLOAT = 3, NJ_BLOB = 4 };

// nj_exec binds n values and runs the statement once. kinds says each
// value's type; for text and blobs, nums holds the offset into text and lens the
// length; for ints nums holds the value, for floats its bits. Text is bound
// SQLITE_STATIC (no copy): the bindings are cleared before returning, so
// SQLite keeps no pointer into Go memory.
static int nj_exec(sqlite3_stmt* s, int n, const uint8_t* kinds, const int64_t* nums,
                   const int32_t* lens, const char* text) {
	int rc = 0;
	for (int i = 0; i < n && rc == 0; i++) {
		switch (kinds[i]) {
		case NJ_TEXT:
			rc = sqlite3_bind_text64(s, i + 1, text + nums[i], (uint64_t)lens[i], (void(*)(void*))0, 1);
			break;
		case NJ_BLOB:
			rc = sqlite3_bind_blob64(s, i + 1, text + nums[i], (uint64_t)lens[i], (void(*)(void*))0);
			break;
		case NJ_INT:
			rc = sqlite3_bind_int64(s, i + 1, nums[i]);
			break;
		case NJ_FLOAT: {
			union { int64_t i; double d; } u;
			u.i = nums[i];
			rc = sqlite3_bind_double(s, i + 1, u.d);
			break;
		}
		default:
			rc = sqlite3_bind_null(s, i + 1);
		}
	}
	if (rc == 0) {
		rc = sqlite3_step(s);
		if (rc == 101) { // SQLITE_DONE
			rc = 0;
		}
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

static const char* nj_errmsg(sqlite3_stmt* s) {
	return sqlite3_errmsg(sqlite3_db_handle(s));
}
*/
import "C"

import (
	"bytes"
	"context"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"unsafe"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/nightjar-etl/nightjar/etl"
)

// Value kinds of chunkValues, as nj_exec reads them.
const (
	kindNull  = 0
	kindText  = 1
	kindInt   = 2
	kindFloat = 3
	kindBlob  = 4
)

// stmtHandle returns the sqlite3_stmt behind a statement prepared by
// go-sqlite3, or nil when the driver's layout is not the one this package
// was built against (then the slower driver path is used).
//
// Binding every value of a 500-row INSERT through the driver costs one cgo
// call per value (each copying the text); nj_exec binds a whole chunk in
// one call without copies. On a 1M-row, 10-column CSV load that is the
// difference between ~1.3 and ~1.0 times the sqlite3 shell's .import.
func stmtHandle(stmt driver.Stmt) *C.sqlite3_stmt {
	v := reflect.ValueOf(stmt)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	f := v.Elem().FieldByName("s")
	// cgo names the type _Ctype_struct_sqlite3_stmt.
	if !f.IsValid() || f.Kind() != reflect.Pointer || !strings.HasSuffix(f.Type().Elem().Name(), "sqlite3_stmt") {
		return nil
	}
	return (*C.sqlite3_stmt)(unsafe.Pointer(f.Pointer()))
}

// chunkValues holds one chunk's values in flat, pointer-free buffers that
// can be handed to C: no Go pointer crosses into C but the buffers' own.
type chunkValues struct {
	kinds []uint8
	nums  []int64
	lens  []int32
	text  []byte
	json  bytes.Buffer
	enc   *json.Encoder
}

// fill encodes rows [from, to) of b, row-major as the statement binds them,
// walking column by column so that the type switch runs once per column.
func (v *chunkValues) fill(b *etl.Batch, from, to int) error {
	ncols := len(b.Cols)
	n := (to - from) * ncols
	v.kinds = grow(v.kinds, n)
	v.nums = grow(v.nums, n)
	v.lens = grow(v.lens, n)
	v.text = v.text[:0]
	text := func(k int, start int) error {
		if len(v.text)-start > math.MaxInt32 {
			return fmt.Errorf("value of %d bytes is too large", len(v.text)-start)
		}
		v.kinds[k], v.nums[k], v.lens[k] = kindText, int64(start), int32(len(v.text)-start)
		return nil
	}
	for c := range b.Cols {
		col := &b.Cols[c]
		k := c
		for r := from; r < to; r, k = r+1, k+ncols {
			if col.Null[r] {
				v.kinds[k] = kindNull
				continue
			}
			start := len(v.text)
			switch col.Type.Storage() {
			case etl.StoreStr:
				v.text = append(v.text, col.Str[r]...)
			case etl.StoreInt:
				v.kinds[k], v.nums[k] = kindInt, col.Int[r]
				continue
			case etl.StoreFloat:
				v.kinds[k], v.nums[k] = kindFloat, int64(math.Float64bits(col.Float[r]))
				continue
			case etl.StoreBool:
				v.kinds[k], v.nums[k] = kindInt, 0
				if col.Bool[r] {
					v.nums[k] = 1
				}
				continue
			case etl.StoreTime: // as etl's table spells the type
				v.text = col.AppendText(v.text, r)
			case etl.StoreJSON:
				if col.JSON[r] == nil {
					v.kinds[k] = kindNull
					continue
				}
				if err := v.appendJSON(col.JSON[r]); err != nil {
					return fmt.Errorf("%s: field %q: encode JSON: %w", b.Origins[r], b.Schema.Field(c).Name, err)
				}
			default:
				return fmt.Errorf("field %q has unsupported type %s", b.Schema.Field(c).Name, col.Type)
			}
			if err := text(k, start); err != nil {
				return fmt.Errorf("%s: field %q: %w", b.Origins[r], b.Schema.Field(c).Name, err)
			}
			if col.Type == etl.TypeBytes {
				v.kinds[k] = kindBlob
			}
		}
	}
	return nil
}

// appendJSON appends x as compact JSON, without HTML escaping.
func (v *chunkValues) appendJSON(x any) error {
	if v.enc == nil {
		v.enc = json.NewEncoder(&v.json)
		v.enc.SetEscapeHTML(false)
	}
	v.json.Reset()
	if err := v.enc.Encode(x); err != nil {
		return err
	}
	v.text = append(v.text, bytes.TrimSuffix(v.json.Bytes(), []byte("\n"))...)
	return nil
}

// exec binds the filled values to stmt and runs it once.
func (v *chunkValues) exec(stmt *C.sqlite3_stmt) error {
	n := len(v.kinds)
	if n == 0 {
		return nil
	}
	if len(v.text) == 0 {
		// Empty strings still need a non-NULL pointer: NULL binds SQL NULL.
		v.text = append(v.text, 0)
	}
	text := (*C.char)(unsafe.Pointer(&v.text[0]))
	rc := C.nj_exec(stmt, C.int(n), (*C.uint8_t)(unsafe.Pointer(&v.kinds[0])),
		(*C.int64_t)(unsafe.Pointer(&v.nums[0])), (*C.int32_t)(unsafe.Pointer(&v.lens[0])), text)
	if rc != 0 {
		return fmt.Errorf("sqlite error %d: %s", int(rc), C.GoString(C.nj_errmsg(stmt)))
	}
	return nil
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// insertStmt is a prepared INSERT and, when the driver's layout allows,
// its sqlite3_stmt for binding whole chunks at once.
type insertStmt struct {
	stmt   driver.Stmt
	handle *C.sqlite3_stmt
	// args serves the driver path, used when handle is nil.
	args []driver.NamedValue
}

// prepareInsert prepares query; with driverOnly, values always go through
// the driver (tests of that path).
func prepareInsert(ctx context.Context, conn *sqlite3.SQLiteConn, query string, driverOnly bool) (*insertStmt, error) {
	stmt, err := conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	s := &insertStmt{stmt: stmt}
	if !driverOnly {
		s.handle = stmtHandle(stmt)
	}
	return s, nil
}

func (s *insertStmt) close() error { return s.stmt.Close() }

// exec runs the statement once with the chunk's values.
func (s *insertStmt) exec(ctx context.Context, v *chunkValues) error {
	if s.handle != nil {
		return v.exec(s.handle)
	}
	n := len(v.kinds)
	s.args = grow(s.args, n)
	for k := range n {
		s.args[k].Ordinal = k + 1
		switch v.kinds[k] {
		case kindText:
			s.args[k].Value = string(v.text[v.nums[k] : v.nums[k]+int64(v.lens[k])])
		case kindBlob:
			s.args[k].Value = bytes.Clone(v.text[v.nums[k] : v.nums[k]+int64(v.lens[k])])
		case kindInt:
			s.args[k].Value = v.nums[k]
		case kindFloat:
			s.args[k].Value = math.Float64frombits(uint64(v.nums[k]))
		default:
			s.args[k].Value = nil
		}
	}
	_, err := s.stmt.(driver.StmtExecContext).ExecContext(ctx, s.args)
	clear(s.args)
	return err
}
