// Command natspeer is the plain Go loop bench/nats.sh measures nightjar
// against, on the same client library (nats.go's jetstream package):
//
//	natspeer publish URL STREAM N      create STREAM (subjects STREAM.>) and publish N leads
//	natspeer consume URL STREAM DB     drain STREAM with a durable pull consumer: fetch
//	                                   1,000, decode the JSON, insert into SQLite in
//	                                   transactions of 10,000 rows, ack after each commit
//	natspeer create URL STREAM -       create STREAM (subjects STREAM.>), empty
//	natspeer count URL STREAM -        print how many messages STREAM holds
//	natspeer delete URL STREAM -       delete STREAM
//	natspeer republish URL STREAM N    publish N leads to STREAM.out with a Nats-Msg-Id
//	                                   each, at most 256 awaiting their ack
//
// It does what a hand-written service would, without nightjar's checkpoints,
// replay markers or in-progress acks.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	_ "github.com/mattn/go-sqlite3"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "natspeer:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 4 {
		return errors.New("usage: natspeer publish|consume|republish|create|count|delete URL STREAM N|DB|-")
	}
	nc, err := nats.Connect(args[1])
	if err != nil {
		return err
	}
	defer nc.Close()
	// The bounds of nightjar's nats target: an ack and a publish waiting on
	// a full window wait up to the connection's timeout (10 s), not
	// nats.go's 200 ms stall wait, which a loaded server overran.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(256), jetstream.WithPublishAsyncTimeout(10*time.Second))
	if err != nil {
		return err
	}
	ctx := context.Background()
	stream := args[2]
	switch args[0] {
	case "publish":
		n, _ := strconv.Atoi(args[3])
		_ = js.DeleteStream(ctx, stream)
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{stream + ".>"}}); err != nil {
			return err
		}
		for i := 1; i <= n; i++ {
			msg := fmt.Appendf(nil, `{"id":%d,"email":"lead%d@example.com","name":"Lead %d","score":%d}`, i, i, i, i%100)
			if _, err := js.PublishAsync(stream+".leads", msg, jetstream.WithStallWait(10*time.Second)); err != nil {
				return err
			}
		}
		<-js.PublishAsyncComplete()
		return nil
	case "consume":
		return consume(ctx, js, stream, args[3])
	case "create":
		_ = js.DeleteStream(ctx, stream)
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{stream + ".>"}})
		return err
	case "count":
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		fmt.Println(info.State.Msgs)
		return nil
	case "delete":
		return js.DeleteStream(ctx, stream)
	case "republish":
		n, _ := strconv.Atoi(args[3])
		return republish(js, stream+".out", n)
	}
	return fmt.Errorf("unknown command %q", args[0])
}

type lead struct {
	ID    int64  `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
	Score int64  `json:"score"`
}

func consume(ctx context.Context, js jetstream.JetStream, stream, path string) error {
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=NORMAL")
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS leads (id INTEGER, email TEXT, name TEXT, score INTEGER, _subject TEXT, _seq INTEGER)`); err != nil {
		return err
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{Durable: "peer", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: -1})
	if err != nil {
		return err
	}
	var held []jetstream.Msg
	var tx *sql.Tx
	var ins *sql.Stmt
	rows := 0
	commit := func() error {
		if tx == nil {
			return nil
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		for _, m := range held {
			_ = m.Ack()
		}
		held, tx, rows = held[:0], nil, 0
		return nc(js).Flush()
	}
	for {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(300*time.Millisecond))
		if err != nil {
			return err
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var l lead
			if err := json.Unmarshal(m.Data(), &l); err != nil {
				return err
			}
			meta, err := m.Metadata()
			if err != nil {
				return err
			}
			if tx == nil {
				if tx, err = db.Begin(); err != nil {
					return err
				}
				if ins, err = tx.Prepare(`INSERT INTO leads VALUES (?, ?, ?, ?, ?, ?)`); err != nil {
					return err
				}
			}
			if _, err := ins.Exec(l.ID, l.Email, l.Name, l.Score, m.Subject(), meta.Sequence.Stream); err != nil {
				return err
			}
			held = append(held, m)
			rows++
		}
		if rows >= 10000 || n == 0 {
			if err := commit(); err != nil {
				return err
			}
		}
		if n == 0 {
			return nil
		}
	}
}

func nc(js jetstream.JetStream) *nats.Conn { return js.Conn() }

func republish(js jetstream.JetStream, subject string, n int) error {
	futures := make([]jetstream.PubAckFuture, 0, 10000)
	wait := func() error {
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return err
			}
		}
		futures = futures[:0]
		return nil
	}
	for i := 1; i <= n; i++ {
		m := &nats.Msg{Subject: subject, Header: nats.Header{},
			Data: fmt.Appendf(nil, `{"id":%d,"email":"lead%d@example.com","name":"Lead %d","score":%d}`, i, i, i, i%100)}
		m.Header.Set(jetstream.MsgIDHeader, "peer-"+strconv.Itoa(i))
		f, err := js.PublishMsgAsync(m, jetstream.WithStallWait(10*time.Second))
		if err != nil {
			return err
		}
		futures = append(futures, f)
		if len(futures) == 10000 {
			if err := wait(); err != nil {
				return err
			}
		}
	}
	return wait()
}
