// Command amqppeer is the plain Go loop bench/amqp.sh measures nightjar
// against, on the same client library (amqp091-go):
//
//	amqppeer publish URL QUEUE N      declare QUEUE (durable, emptied) and publish N leads
//	amqppeer consume URL QUEUE DB     drain QUEUE with manual acks, prefetch 40,000 (the
//	                                  amqp source's default, 4 × its batch of 10,000):
//	                                  decode the JSON, insert into SQLite in transactions
//	                                  of 10,000 rows, one multiple-ack after each commit
//	amqppeer republish URL QUEUE N    publish N leads to QUEUE (declared, emptied),
//	                                  persistent, mandatory, a message-id each, publisher
//	                                  confirms, at most 256 awaiting their confirm
//	amqppeer declare URL QUEUE -      declare QUEUE (durable) and empty it
//	amqppeer count URL QUEUE -        print how many messages QUEUE holds
//	amqppeer delete URL QUEUE -       delete QUEUE
//
// It does what a hand-written service would, without nightjar's checkpoints,
// replay markers or batch cuts.
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

	_ "github.com/mattn/go-sqlite3"
	amqp "github.com/rabbitmq/amqp091-go"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "amqppeer:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 4 {
		return errors.New("usage: amqppeer publish|consume|republish|declare|count|delete URL QUEUE N|DB|-")
	}
	conn, err := amqp.Dial(args[1])
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	queue := args[2]
	n, _ := strconv.Atoi(args[3])
	switch args[0] {
	case "publish":
		return publish(ch, queue, n, false)
	case "republish":
		return publish(ch, queue, n, true)
	case "consume":
		return consume(ch, queue, args[3])
	case "declare":
		if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
			return err
		}
		_, err := ch.QueuePurge(queue, false)
		return err
	case "count":
		q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
		if err != nil {
			return err
		}
		fmt.Println(q.Messages)
		return nil
	case "delete":
		_, err := ch.QueueDelete(queue, false, false, false)
		return err
	}
	return fmt.Errorf("unknown command %q", args[0])
}

type lead struct {
	ID    int64  `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
	Score int64  `json:"score"`
}

// publish declares queue, empties it and publishes n leads to it with
// confirms, at most 256 awaiting theirs.
func publish(ch *amqp.Channel, queue string, n int, withIDs bool) error {
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		return err
	}
	if _, err := ch.QueuePurge(queue, false); err != nil {
		return err
	}
	if err := ch.Confirm(false); err != nil {
		return err
	}
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	ctx := context.Background()
	window := make([]*amqp.DeferredConfirmation, 0, 256)
	for i := 1; i <= n; i++ {
		msg := amqp.Publishing{ContentType: "application/json", DeliveryMode: amqp.Persistent,
			Body: fmt.Appendf(nil, `{"id":%d,"email":"lead%d@example.com","name":"Lead %d","score":%d}`, i, i, i, i%100)}
		if withIDs {
			msg.MessageId = "peer-" + strconv.Itoa(i)
		}
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, withIDs, false, msg)
		if err != nil {
			return err
		}
		if len(window) == cap(window) {
			if ok, err := window[0].WaitContext(ctx); err != nil || !ok {
				return fmt.Errorf("confirm: %v (nack: %v)", err, !ok)
			}
			window = window[1:]
		}
		window = append(window, dc)
	}
	for _, dc := range window {
		if ok, err := dc.WaitContext(ctx); err != nil || !ok {
			return fmt.Errorf("confirm: %v (nack: %v)", err, !ok)
		}
	}
	select {
	case r := <-returns:
		return fmt.Errorf("returned: %s", r.ReplyText)
	default:
	}
	return nil
}

// consume drains queue into SQLite, acking after each commit; it ends when
// no message came for a 300 ms tick and the queue holds none ready.
func consume(ch *amqp.Channel, queue, path string) error {
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=NORMAL")
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS leads (id INTEGER, email TEXT, name TEXT, score INTEGER, _subject TEXT, _seq INTEGER)`); err != nil {
		return err
	}
	if err := ch.Qos(40000, 0, false); err != nil {
		return err
	}
	deliveries, err := ch.Consume(queue, "peer", false, false, false, false, nil)
	if err != nil {
		return err
	}
	var (
		tx   *sql.Tx
		ins  *sql.Stmt
		rows int
		last uint64
	)
	commit := func() error {
		if tx == nil {
			return nil
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		tx, rows = nil, 0
		return ch.Ack(last, true)
	}
	idle := time.NewTicker(300 * time.Millisecond)
	defer idle.Stop()
	seen := false
	for {
		select {
		case d := <-deliveries:
			seen = true
			var l lead
			if err := json.Unmarshal(d.Body, &l); err != nil {
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
			if _, err := ins.Exec(l.ID, l.Email, l.Name, l.Score, d.RoutingKey, d.DeliveryTag); err != nil {
				return err
			}
			last = d.DeliveryTag
			if rows++; rows >= 10000 {
				if err := commit(); err != nil {
					return err
				}
			}
		case <-idle.C:
			if !seen {
				// The end of the queue, not a slow delivery: as nightjar's
				// source does, look at the queue before stopping.
				q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
				if err != nil {
					return err
				}
				if q.Messages == 0 {
					return commit()
				}
			}
			seen = false
		}
	}
}
