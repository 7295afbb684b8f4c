package sqlconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/etl"
)

// Backend is what a database adds to the generic table target (Table):
// how it connects, lists columns, loads rows and swaps tables, and which of
// its errors are worth a retry.
type Backend interface {
	Dialect
	Inspector
	// OpenDB opens the database, creating the schema or database the
	// target writes to when missing.
	OpenDB(ctx context.Context) (*sqlx.DB, error)
	// Columns lists a table's columns in order; none when it does not
	// exist.
	Columns(ctx context.Context, q sqlx.QueryerContext, table string) ([]string, error)
	// CreateLike returns the statement creating table with the columns and
	// column types of like (not called when the backend is a LikeReader).
	CreateLike(table, like string) (string, error)
	// Load writes b's rows into table within tx, which is open on conn;
	// with keys, rows whose key exists update it (the last row of the
	// batch wins for a key repeated within it).
	Load(ctx context.Context, conn *sqlx.Conn, tx *sqlx.Tx, table string, b *etl.Batch, keys []string) error
	// Swap replaces table by staging (renamed to table) so that readers see
	// the old table or the new one, never neither nor half.
	Swap(ctx context.Context, conn *sqlx.Conn, table, staging string) error
	// Transient reports an error after which the batch is worth writing
	// again: a lost connection, a serialization failure, a deadlock. The
	// transaction of a failed write rolled back, and append's replay marker
	// skips a batch whose commit went through unseen, so a retry never
	// doubles rows.
	Transient(err error) bool
	// DuplicateKeys reports the error of creating a unique index on a
	// table holding duplicate keys.
	DuplicateKeys(err error) bool
}

// TxDDL is an optional Backend interface: a database whose DDL is
// transactional (SQLite) returns true, and Table then claims an append
// batch's replay marker before touching the table and creates or alters the
// table within the batch's transaction, so that a skipped or failed batch
// leaves the table as it was. Otherwise DDL runs before the transaction
// (MySQL commits an open transaction at any DDL).
type TxDDL interface {
	TxDDL() bool
}

// ConnCloser is an optional Backend interface for a backend that keeps
// state on the connection, such as prepared statements: Table calls
// CloseConn before it closes the connection or replaces it after a
// transient failure.
type ConnCloser interface {
	CloseConn(conn *sqlx.Conn)
}

// LikeReader is an optional Backend interface for a database that cannot
// create a table like another in one statement (SQLite): Table calls
// CreateLikeFrom instead of CreateLike, and the backend reads like's
// definition on q, the connection or transaction the DDL runs on.
type LikeReader interface {
	CreateLikeFrom(ctx context.Context, q sqlx.QueryerContext, table, like string) (string, error)
}

// Streamer is an optional Backend interface for a database that loads
// the batches of a transaction in one bulk operation (PostgreSQL's COPY)
// rather than one per batch. Stream is Load, but may leave the operation
// open for the transaction's next batch; while it is open, Table runs no
// other statement on the connection. Finish ends it (a merge then upserts
// what was staged), before the replay markers are written and the
// transaction commits; Abort abandons it before a rollback.
type Streamer interface {
	Stream(ctx context.Context, conn *sqlx.Conn, tx *sqlx.Tx, table string, b *etl.Batch, keys []string) error
	Finish(ctx context.Context, conn *sqlx.Conn, tx *sqlx.Tx) error
	Abort()
}

// DDLRacer is an optional Backend interface for a database whose DDL can
// lose a race with another session's (PostgreSQL's CREATE ... IF NOT
// EXISTS fails with a unique violation on its catalog when two sessions
// run it at once): ConcurrentDDL reports an error meaning that another
// session created the object first. Table then takes the object as made:
// two jobs loading one database at once may both create its marker table,
// or the table they share.
type DDLRacer interface {
	ConcurrentDDL(err error) bool
}

// NoRetry is an optional Backend interface for a database none of whose
// failures is transient (SQLite, a local file): Table then keeps no batches
// of the open transaction to load again, which would only hold memory.
type NoRetry interface {
	NoRetry() bool
}

// errReplayInStream: a batch streamed into the open transaction turned out
// to be loaded already (its marker exists). Rare, after a crash: the
// transaction is loaded again, batch by batch, skipping it.
var errReplayInStream = errors.New("a streamed batch was loaded before")

// queryExecer runs a table target's DDL: its connection, or with TxDDL the
// batch's transaction.
type queryExecer interface {
	sqlx.QueryerContext
	sqlx.ExecerContext
}

// Retry policy of a table target's batch writes: the shared policy, at
// the scale of a transaction.
const writeAttempts = 4

var writeBackoff = etl.Backoff{Initial: 200 * time.Millisecond, Max: 5 * time.Second}

// Table is a table target for any Backend: append (replayed batches
// skipped through the marker table), merge by key, or replace (a staging
// table swapped in at Commit).
type Table struct {
	cfg     TargetConfig
	backend Backend
	// name prefixes errors: "postgres pg table \"leads\"".
	name   string
	db     *sqlx.DB
	conn   *sqlx.Conn
	env    etl.TargetEnv
	logger *slog.Logger
	// clock stamps transactions and replay markers and times the waits
	// between attempts (the run's, from Open).
	clock etl.Clock

	// table is where rows go: cfg.Table, or the staging table for replace.
	table string
	// columns caches the columns of table; nil when unknown.
	columns       *TableColumns
	keyIndexReady bool
	staged        bool
	// checked is the last schema OneColumnEach passed.
	checked *etl.Schema
	// refused are the rows refused since TakeRejects (see refuse).
	refused []etl.Reject

	// tx is the open transaction, begun at txStart; group holds the
	// batches written in it (unless NoRetry), loaded again should it fail;
	// groupRows counts their rows, lastSeq is the last one's number.
	tx        *sqlx.Tx
	txStart   time.Time
	group     []*etl.Batch
	groupRows int
	lastSeq   int64
	// streamed are the replay markers of the batches an append streamed
	// into tx, written at Sync (see Streamer); noStream loads batch by
	// batch, claiming each marker first.
	streamed []Marker
	noStream bool
	// noStreamThrough: batches up to this number are loaded as with
	// noStream. A transaction that streamed them found one loaded before
	// and, keeping no batches to load again (rewinds), had the runner read
	// them again; kept across Close and Open (the rewind's) so that the
	// second reading claims first. Claiming first is always correct, only
	// slower, so a stale value costs nothing else.
	noStreamThrough int64
	// skippedOpen counts the rows of replayed batches the open transaction
	// skipped; skipped, those of committed transactions not yet taken (see
	// etl.Skipper).
	skippedOpen, skipped int64
	// writerKey is the SingleWriter key this Table is counted under while
	// open; "" when the backend admits concurrent writers.
	writerKey string
	// dry is what a dry run learnt of the table (see DryRun).
	dry *dryRunState
}

var (
	_ etl.Syncer  = (*Table)(nil)
	_ etl.Skipper = (*Table)(nil)
)

// TakeSkipped returns the rows of replayed batches skipped in the
// transactions committed since the last call.
func (t *Table) TakeSkipped() int64 {
	n := t.skipped
	t.skipped = 0
	return n
}

// NewTable builds a table target from a validated config; it does no I/O.
// name prefixes its errors and names the connector, the connection and the
// table.
func NewTable(cfg TargetConfig, backend Backend, name string) *Table {
	return &Table{cfg: cfg, backend: backend, name: name, clock: etl.SystemClock{}}
}

func (t *Table) errorf(format string, args ...any) error {
	return fmt.Errorf("%s: "+format, append([]any{t.name}, args...)...)
}

// Durability is at each Sync for append and merge (DurablePerBatch, with
// etl.Syncer), at commit for replace.
func (t *Table) Durability() etl.Durability {
	if t.cfg.Mode == ModeReplace {
		return etl.DurableAtCommit
	}
	return etl.DurablePerBatch
}

var _ etl.Releaser = (*Table)(nil)

// ReleasesBatches implements etl.Releaser: the table keeps the batches of
// the open transaction (to load them again after a transient failure) and
// lets go of them when the Sync that commits it returns; the backends read
// a batch only within Write, Sync and their retries (the PostgreSQL COPY's
// goroutine reads encoded bytes, never the batch).
func (t *Table) ReleasesBatches() bool { return true }

var _ etl.WriteReleaser = (*Table)(nil)

// ReleasesAtWrite implements etl.WriteReleaser: a table that does not
// keep its transaction's batches (a backend that never retries: SQLite,
// DuckDB) is done with a batch when Write returns.
func (t *Table) ReleasesAtWrite() bool { return !t.retains() }

// Open connects, creates the marker table for append, and for replace
// drops a staging table a crashed run left behind.
func (t *Table) Open(ctx context.Context, env etl.TargetEnv) error {
	t.env = env
	// A Table may be opened again after Close (a rewind): nothing of the
	// last opening's counts or caches carries over.
	t.skipped, t.skippedOpen, t.refused = 0, 0, nil
	t.columns, t.keyIndexReady, t.checked = nil, false, nil
	t.clock = etl.SystemClockOr(env.Clock)
	t.logger = env.Logger
	if t.logger == nil {
		t.logger = slog.New(slog.DiscardHandler)
	}
	t.logger = t.logger.With("target", env.Name, "table", t.cfg.Table)
	if err := t.open(ctx); err != nil {
		t.Close()
		return t.rewindable(ctx, t.errorf("%w", err))
	}
	return nil
}

// rewindable marks err with etl.Rewind when the runner reads again what
// the Table rolled back (rewinds) and err is transient: the runner then
// opens the Table again and loads those batches anew.
func (t *Table) rewindable(ctx context.Context, err error) error {
	if t.rewinds() && !etl.IsPermanent(err) && t.backend.Transient(err) && ctx.Err() == nil {
		return etl.Rewind(err)
	}
	return err
}

func (t *Table) open(ctx context.Context) error {
	db, err := t.backend.OpenDB(ctx)
	if err != nil {
		return err
	}
	t.db = db
	if sw, ok := t.backend.(SingleWriter); ok {
		t.writerKey = sw.WriterKey()
		addWriter(t.writerKey)
	}
	if t.conn, err = db.Connx(ctx); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	t.table = t.cfg.Table
	switch t.cfg.Mode {
	case ModeAppend:
		if err := t.openMarkers(ctx); err != nil {
			return err
		}
		// A table about to be created starts with no markers: those of a
		// table that was dropped must not skip a batch.
		names, err := t.backend.Columns(ctx, t.conn, t.table)
		if err != nil {
			return fmt.Errorf("read columns: %w", err)
		}
		if len(names) == 0 {
			return t.clearMarkers(ctx)
		}
	case ModeReplace:
		// Markers other targets recorded for the table are cleared when
		// it is replaced.
		if err := t.openMarkers(ctx); err != nil {
			return err
		}
		t.table = t.cfg.Table + StagingSuffix
		return t.dropStaging(ctx)
	}
	return nil
}

// openMarkers creates the marker table when missing, and adds the column
// naming each marker's table to one made before it existed.
func (t *Table) openMarkers(ctx context.Context) error {
	if _, err := t.conn.ExecContext(ctx, CreateMarkerTable(t.backend)); err != nil && !ConcurrentDDL(t.backend, err) {
		return fmt.Errorf("create %s: %w", MarkerTable, err)
	}
	names, err := t.backend.Columns(ctx, t.conn, MarkerTable)
	if err != nil {
		return fmt.Errorf("read columns of %s: %w", MarkerTable, err)
	}
	if NewTableColumns(t.backend, names).Has(markerTableColumn) {
		return nil
	}
	add, err := AddColumn(t.backend, MarkerTable, etl.Field{Name: markerTableColumn, Type: etl.TypeString})
	if err == nil {
		_, err = t.conn.ExecContext(ctx, add)
	}
	if err != nil && !ConcurrentDDL(t.backend, err) {
		return fmt.Errorf("add %s to %s: %w", markerTableColumn, MarkerTable, err)
	}
	return nil
}

// clearMarkers removes the replay markers of the target's table.
func (t *Table) clearMarkers(ctx context.Context) error {
	n, err := ClearMarkers(ctx, t.conn, t.backend, t.cfg.Table, t.env.Job, t.env.Name)
	if err != nil {
		return err
	}
	if n > 0 {
		t.logger.Info("replay markers of the table cleared: it is new or was replaced", "markers", n)
	}
	return nil
}

func (t *Table) dropStaging(ctx context.Context) error {
	drop, err := DropTable(t.backend, t.cfg.Table+StagingSuffix)
	if err != nil {
		return err
	}
	if _, err := t.conn.ExecContext(ctx, drop); err != nil {
		return fmt.Errorf("drop staging table: %w", err)
	}
	return nil
}

// Write loads b within the open transaction, beginning one when none is
// open; Sync commits it. A transient failure rolls the transaction back and
// loads its batches again on a new connection.
func (t *Table) Write(ctx context.Context, b *etl.Batch) error {
	if b.Schema == nil || b.Schema.Len() == 0 {
		if b.Len() == 0 {
			return nil
		}
		return t.errorf("batch %d has %d rows but no fields", b.Seq, b.Len())
	}
	if err := b.Check(); err != nil {
		return t.errorf("batch %d: %w", b.Seq, err)
	}
	rows := b.Len()
	b, err := t.refuse(b)
	if err != nil {
		return t.errorf("%w", err)
	}
	if rows > 0 && b.Len() == 0 {
		return nil // every row refused
	}
	// Without transactional DDL, a new table, column or key index commits
	// what is open first: MySQL commits an open transaction at any DDL.
	if t.tx != nil && !t.txDDL() && t.needsDDL(b.Schema) {
		if err := t.Sync(ctx); err != nil {
			return err
		}
	}
	if t.retains() {
		t.group = append(t.group, b)
	}
	t.groupRows += b.Len()
	t.lastSeq = b.Seq
	if err := t.write(ctx, b); err != nil {
		return t.recover(ctx, b.Seq, err, false)
	}
	if !t.env.Syncs || t.shared() {
		// Nobody else will sync, or another target writes to the same
		// single-writer database and must not be locked out.
		return t.Sync(ctx)
	}
	return nil
}

// ConcurrentDDL reports whether err means that another session created
// the object a statement of d's was creating (see DDLRacer).
func ConcurrentDDL(d Dialect, err error) bool {
	r, ok := d.(DDLRacer)
	return ok && r.ConcurrentDDL(err)
}

// shared reports whether another open Table writes to this Table's
// single-writer database (see SingleWriter).
func (t *Table) shared() bool {
	return t.writerKey != "" && sharedWriter(t.writerKey)
}

// retains reports whether the open transaction's batches are kept to be
// loaded again: unless the runner reads them again itself (rewinds) or
// the backend never retries, and otherwise always for a Streamer (a
// replay found at Sync reloads them).
func (t *Table) retains() bool {
	if t.rewinds() {
		return false
	}
	if _, ok := t.backend.(Streamer); ok {
		return true
	}
	return t.retries()
}

// retries reports whether the backend's failures may be transient (see
// NoRetry).
func (t *Table) retries() bool {
	nr, ok := t.backend.(NoRetry)
	return !ok || !nr.NoRetry()
}

// rewinds reports whether a transient failure is answered by the runner,
// which reads the rolled-back transaction's batches again from the source
// (etl.TargetEnv.Rewinds), instead of by the Table from batches it kept.
func (t *Table) rewinds() bool {
	return t.env.Rewinds && t.retries()
}

// Reopens implements etl.Reopener: Open starts afresh.
func (t *Table) Reopens() bool { return true }

// Sync commits the open transaction: every batch written since the last
// Sync is durable when it returns.
func (t *Table) Sync(ctx context.Context) error {
	if t.tx == nil {
		t.group, t.groupRows = nil, 0
		return nil
	}
	seq := t.lastSeq
	err := t.finish(ctx)
	if errors.Is(err, errReplayInStream) {
		if t.rewinds() {
			t.logger.Info("a batch of the transaction was loaded before: rolled back, to be read again and loaded batch by batch", "through_seq", seq)
			t.rollback()
			t.noStreamThrough = seq
			return etl.Rewind(t.errorf("batch %d: %w", seq, err))
		}
		return t.reloadWithoutStream(ctx, seq)
	}
	if err == nil {
		err = t.commitTx()
	}
	if err != nil {
		return t.recover(ctx, seq, err, true)
	}
	return nil
}

// finish ends the backend's open bulk operation and writes the replay
// markers of the batches streamed.
func (t *Table) finish(ctx context.Context) error {
	st, ok := t.backend.(Streamer)
	if !ok || t.tx == nil {
		return nil
	}
	if err := st.Finish(ctx, t.conn, t.tx); err != nil {
		return err
	}
	for _, m := range t.streamed {
		claimed, err := ClaimBatch(ctx, t.tx, t.backend, m)
		if err != nil {
			return err
		}
		if !claimed {
			return errReplayInStream
		}
	}
	t.streamed = nil
	return nil
}

// reloadWithoutStream rolls back a transaction that streamed a batch
// loaded before, and loads its batches again one by one, each marker
// claimed before its rows.
func (t *Table) reloadWithoutStream(ctx context.Context, seq int64) error {
	t.logger.Info("a batch of the transaction was loaded before: loading it again batch by batch", "batches", len(t.group))
	t.rollback()
	t.noStream = true
	defer func() { t.noStream = false }()
	var err error
	for _, b := range t.group {
		if err = t.write(ctx, b); err != nil {
			break
		}
	}
	if err == nil {
		err = t.commitTx()
	}
	if err != nil {
		return t.recover(ctx, seq, err, true)
	}
	return nil
}

// SyncDue reports whether the open transaction holds CommitRows rows or
// has been open for CommitInterval.
func (t *Table) SyncDue() bool {
	if t.tx == nil {
		return false
	}
	rows := t.cfg.CommitRows
	if rows <= 0 {
		rows = DefaultCommitRows
		if t.rewinds() {
			rows = RewindCommitRows
		}
	}
	return t.groupRows >= rows || t.clock.Now().Sub(t.txStart) >= CommitInterval || t.shared()
}

func (t *Table) commitTx() error {
	tx := t.tx
	t.tx = nil
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if t.cfg.Mode == ModeReplace && t.groupRows > 0 {
		t.staged = true
	}
	t.group, t.groupRows = nil, 0
	t.skipped += t.skippedOpen
	t.skippedOpen = 0
	return nil
}

// rollback abandons the open transaction, if any, and the backend's open
// bulk operation.
func (t *Table) rollback() {
	if st, ok := t.backend.(Streamer); ok {
		st.Abort()
	}
	t.streamed = nil
	t.skippedOpen = 0
	if t.tx != nil {
		t.tx.Rollback()
		t.tx = nil
	}
}

// recover handles err, the failure of a write or (commit) a Sync: the
// transaction rolled back, so when err is transient every batch of it is
// loaded again in a new one on a new connection, and committed for a Sync,
// with backoff between attempts. Append's replay markers skip a batch
// whose commit went through unseen, so that a retry never doubles rows.
func (t *Table) recover(ctx context.Context, seq int64, err error, commit bool) error {
	waits := writeBackoff.NewBackOff()
	for attempt := 1; ; attempt++ {
		t.rollback()
		// What the cache says of the table may be wrong now.
		t.columns, t.keyIndexReady = nil, false
		if attempt == writeAttempts || etl.IsPermanent(err) || !t.backend.Transient(err) || !t.retains() || ctx.Err() != nil {
			t.group, t.groupRows = nil, 0
			if attempt > 1 {
				err = fmt.Errorf("after %d attempts: %w", attempt, err)
			}
			// Unless the runner reads the transaction's batches again.
			return t.rewindable(ctx, t.errorf("batch %d: %w", seq, err))
		}
		t.logger.Warn("write failed, retrying on a new connection", "seq", seq, "batches", len(t.group), "attempt", attempt, "err", err)
		if err := etl.Sleep(ctx, t.clock, waits.NextBackOff()); err != nil {
			return t.errorf("batch %d: %w", seq, err)
		}
		if err := t.reconnect(ctx); err != nil {
			return t.errorf("batch %d: %w", seq, err)
		}
		err = nil
		for _, b := range t.group {
			if err = t.write(ctx, b); err != nil {
				break
			}
		}
		if err == nil && commit {
			if err = t.finish(ctx); err == nil {
				err = t.commitTx()
			}
		}
		if errors.Is(err, errReplayInStream) {
			return t.reloadWithoutStream(ctx, seq)
		}
		if err == nil {
			return nil
		}
	}
}

// reconnect replaces the held connection; database/sql discards a broken
// one.
func (t *Table) reconnect(ctx context.Context) error {
	if t.conn != nil {
		t.closeConnState()
		t.conn.Close()
		t.conn = nil
	}
	conn, err := t.db.Connx(ctx)
	if err != nil {
		return fmt.Errorf("reconnect: %w", err)
	}
	t.conn = conn
	return nil
}

// closeConnState lets the backend drop what it keeps on the connection.
func (t *Table) closeConnState() {
	if c, ok := t.backend.(ConnCloser); ok && t.conn != nil {
		c.CloseConn(t.conn)
	}
}

func (t *Table) txDDL() bool {
	d, ok := t.backend.(TxDDL)
	return ok && d.TxDDL()
}

// needsDDL reports whether a batch of schema s needs a table created or
// altered, or the key index created, as far as the cache knows.
func (t *Table) needsDDL(s *etl.Schema) bool {
	return t.columns == nil || len(t.columns.Missing(s)) > 0 || (t.cfg.Mode == ModeMerge && !t.keyIndexReady)
}

// write loads b within the open transaction, beginning one when none is
// open. A failure leaves the transaction for recover to roll back.
func (t *Table) write(ctx context.Context, b *etl.Batch) error {
	// Without transactional DDL, tables are created and altered before the
	// transaction (Write committed an open one): MySQL commits an open
	// transaction at any DDL, which would commit a replay marker without
	// its rows. DDL is idempotent, so a failure after it is harmless.
	txDDL := t.txDDL()
	if !txDDL && t.tx == nil {
		if err := t.ensureTable(ctx, t.conn, b.Schema); err != nil {
			return err
		}
	}
	if t.tx == nil {
		// The transaction outlives this Write's context (the runner
		// cancels a context per write when a job has several targets);
		// its statements still take the write's.
		tx, err := t.conn.BeginTxx(context.WithoutCancel(ctx), nil)
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		t.tx, t.txStart = tx, t.clock.Now()
	}
	st, stream := t.backend.(Streamer)
	stream = stream && !t.noStream && b.Seq > t.noStreamThrough
	if t.cfg.Mode == ModeAppend {
		m := Marker{
			Job: t.env.Job, Target: t.env.Name, BatchKey: etl.BatchKey(b), Table: t.cfg.Table,
			RunID: t.env.RunID, Rows: int64(b.Len()), LoadedAt: t.clock.Now(),
		}
		claimed := true
		if stream {
			// Its marker is written at Sync; one streamed in this
			// transaction already is known here, an older one then.
			for _, s := range t.streamed {
				claimed = claimed && s.BatchKey != m.BatchKey
			}
			if claimed {
				t.streamed = append(t.streamed, m)
			}
		} else {
			var err error
			if claimed, err = ClaimBatch(ctx, t.tx, t.backend, m); err != nil {
				return err
			}
		}
		if !claimed {
			t.logger.Info("batch already loaded, skipped", "seq", b.Seq, "batch_key", m.BatchKey, "rows", b.Len())
			t.skippedOpen += int64(b.Len())
			return nil
		}
	}
	if txDDL {
		if err := t.ensureTable(ctx, t.tx, b.Schema); err != nil {
			return err
		}
	}
	var keys []string
	if t.cfg.Mode == ModeMerge {
		keys = t.cfg.Key
	}
	if b.Len() > 0 {
		var err error
		if stream {
			err = st.Stream(ctx, t.conn, t.tx, t.table, b, keys)
		} else {
			if st != nil {
				// Batch by batch: nothing may stay open.
				if err := st.Finish(ctx, t.conn, t.tx); err != nil {
					return err
				}
			}
			err = t.backend.Load(ctx, t.conn, t.tx, t.table, b, keys)
		}
		if err != nil {
			return fmt.Errorf("load rows %s to %s: %w", b.Origins[0], b.Origins[b.Len()-1], err)
		}
	}
	return nil
}

// ensureTable creates the table from s when missing, adds columns for new
// fields (evolve) or refuses them (strict), and for merge creates the key's
// unique index; its statements run on q.
func (t *Table) ensureTable(ctx context.Context, q queryExecer, s *etl.Schema) error {
	d := t.backend
	if s != t.checked {
		if err := OneColumnEach(d, s); err != nil {
			return err
		}
		t.checked = s
	}
	if t.columns == nil {
		names, err := t.backend.Columns(ctx, q, t.table)
		if err != nil {
			return fmt.Errorf("read columns: %w", err)
		}
		if len(names) == 0 {
			if err := t.create(ctx, q, s); err != nil && !ConcurrentDDL(t.backend, err) {
				return err
			}
			if names, err = t.backend.Columns(ctx, q, t.table); err != nil {
				return fmt.Errorf("read columns: %w", err)
			}
		}
		t.columns = NewTableColumns(d, names)
	}
	if missing := t.columns.Missing(s); len(missing) > 0 {
		if t.cfg.Schema == SchemaStrict {
			return t.columns.CheckStrict(t.cfg.Table, s)
		}
		for _, f := range missing {
			add, err := AddColumn(d, t.table, f)
			if err != nil {
				return err
			}
			if _, err := q.ExecContext(ctx, add); err != nil && !ConcurrentDDL(t.backend, err) {
				return fmt.Errorf("add column %q: %w", f.Name, err)
			}
			t.logger.Info("column added", "column", f.Name, "type", f.Type.String())
			t.columns.Add(f.Name)
		}
	}
	if t.cfg.Mode == ModeMerge && !t.keyIndexReady {
		index, err := CreateUniqueIndex(d, t.cfg.Table+KeyIndexSuffix, t.table, t.cfg.Key)
		if err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, index); err != nil && !ConcurrentDDL(t.backend, err) {
			if t.backend.DuplicateKeys(err) {
				return fmt.Errorf("cannot merge by key (%s): the table already holds rows with the same key; remove the duplicates or choose another key: %w",
					strings.Join(t.cfg.Key, ", "), err)
			}
			return fmt.Errorf("create unique index on key (%s): %w", strings.Join(t.cfg.Key, ", "), err)
		}
		t.keyIndexReady = true
	}
	return nil
}

// create creates t.table from s; but a strict replace creates its staging
// table like the table it replaces, and refuses a batch with fields that
// table lacks. Its statements run on q.
func (t *Table) create(ctx context.Context, q queryExecer, s *etl.Schema) error {
	d := t.backend
	var keys []string
	if t.cfg.Mode == ModeMerge {
		keys = t.cfg.Key
	}
	stmt, err := CreateTableWithKeys(d, t.table, s, keys)
	if err != nil {
		return err
	}
	if t.cfg.Mode == ModeReplace && t.cfg.Schema == SchemaStrict {
		old, err := t.backend.Columns(ctx, q, t.cfg.Table)
		if err != nil {
			return fmt.Errorf("read columns: %w", err)
		}
		if len(old) > 0 {
			if err := NewTableColumns(d, old).CheckStrict(t.cfg.Table, s); err != nil {
				return err
			}
			if lr, ok := t.backend.(LikeReader); ok {
				stmt, err = lr.CreateLikeFrom(ctx, q, t.table, t.cfg.Table)
			} else {
				stmt, err = t.backend.CreateLike(t.table, t.cfg.Table)
			}
			if err != nil {
				return err
			}
		}
	}
	if _, err := q.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("create table: %w", err)
	}
	return nil
}

// Commit syncs, then for replace swaps the staging table in.
func (t *Table) Commit(ctx context.Context) error {
	if err := t.Sync(ctx); err != nil {
		return err
	}
	if t.cfg.Mode != ModeReplace {
		return nil
	}
	if !t.staged {
		// A batch without rows (a header-only file) may have created the
		// staging table: it goes, and the table stays as it was.
		t.logger.Info("no row written, table left as it was")
		if err := t.dropStaging(ctx); err != nil {
			return t.errorf("replace: %w", err)
		}
		return nil
	}
	if err := t.backend.Swap(ctx, t.conn, t.cfg.Table, t.table); err != nil {
		return t.errorf("replace: %w", err)
	}
	if err := t.clearMarkers(ctx); err != nil {
		return t.errorf("replace: %w", err)
	}
	t.staged = false
	t.columns = nil
	return nil
}

// Close closes the connection; a replace run that did not commit drops its
// staging table.
func (t *Table) Close() error {
	if t.db == nil {
		return nil
	}
	var errs []error
	t.rollback()
	t.group, t.groupRows = nil, 0
	// Before the staging table is dropped: a statement kept on it would
	// hold it.
	t.closeConnState()
	if t.cfg.Mode == ModeReplace && t.conn != nil {
		// Made by this run (with rows or not) and not swapped in.
		if err := t.dropStaging(context.Background()); err != nil {
			errs = append(errs, t.errorf("%w", err))
		}
		t.staged = false
	}
	if t.conn != nil {
		if err := t.conn.Close(); err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, t.errorf("close: %w", err))
		}
		t.conn = nil
	}
	if err := t.db.Close(); err != nil {
		errs = append(errs, t.errorf("close: %w", err))
	}
	t.db = nil
	if t.writerKey != "" {
		removeWriter(t.writerKey)
		t.writerKey = ""
	}
	return errors.Join(errs...)
}

// SwapByRename is a Backend.Swap for a database whose DDL is
// transactional (PostgreSQL, SQLite): it drops table and renames staging
// to it in one transaction, so that readers see the old table until the
// commit and the new one after.
func SwapByRename(ctx context.Context, d Dialect, conn *sqlx.Conn, table, staging string) (err error) {
	drop, err := DropTable(d, table)
	if err != nil {
		return err
	}
	qs, err := d.QuoteIdent(staging)
	if err != nil {
		return err
	}
	qt, err := d.QuoteIdent(table)
	if err != nil {
		return err
	}
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, drop); err != nil {
		return fmt.Errorf("drop old table: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "ALTER TABLE "+qs+" RENAME TO "+qt); err != nil {
		return fmt.Errorf("rename staging table: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
