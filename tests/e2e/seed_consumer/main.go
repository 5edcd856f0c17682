// The seed's notification-service reading the topic, with its own client: segmentio/kafka-go at the
// version the seed pins, a Reader in a consumer group configured as that service configures it,
// and encoding/json decoding the envelope and its data into the seed's event structs (the field
// names, tags and Go types of its events/events.go). One JSON line per message on stdout: what
// the service understood, or why it could not. Built and run by test_seed_consumers.py.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// The envelope, as the seed's Event declares it; Data is decoded once its type is known.
type Event struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Timestamp time.Time       `json:"timestamp"`
	Version   string          `json:"version"`
	Data      json.RawMessage `json:"data"`
}

type OrderItemData struct {
	ProductID int32   `json:"product_id"`
	Quantity  int32   `json:"quantity"`
	Price     float64 `json:"price"`
}

type OrderCreatedEvent struct {
	OrderID     int             `json:"orderid"`
	UserID      int             `json:"userid"`
	TotalAmount string          `json:"totalamount"`
	Status      string          `json:"status"`
	Items       []OrderItemData `json:"items"`
}

type UpdatedOrderEvent struct {
	OrderID   int    `json:"orderid"`
	OldStatus string `json:"oldstatus"`
	NewStatus string `json:"newstatus"`
	UserID    int    `json:"userid"`
}

// What one message meant to the consumer.
type Outcome struct {
	Key       string             `json:"key"`
	Type      string             `json:"type,omitempty"`
	ID        string             `json:"id,omitempty"`
	Timestamp string             `json:"timestamp,omitempty"`
	Created   *OrderCreatedEvent `json:"created,omitempty"`
	Updated   *UpdatedOrderEvent `json:"updated,omitempty"`
	Unknown   bool               `json:"unknown,omitempty"`
	Error     string             `json:"error,omitempty"`
}

func decode(message kafka.Message) Outcome {
	outcome := Outcome{Key: string(message.Key)}
	var event Event
	if err := json.Unmarshal(message.Value, &event); err != nil {
		outcome.Error = "envelope: " + err.Error()
		return outcome
	}
	outcome.Type, outcome.ID = event.Type, event.ID
	outcome.Timestamp = event.Timestamp.UTC().Format(time.RFC3339Nano)
	switch event.Type {
	case "order.created":
		outcome.Created = &OrderCreatedEvent{}
		if err := json.Unmarshal(event.Data, outcome.Created); err != nil {
			outcome.Created, outcome.Error = nil, "order.created data: "+err.Error()
		}
	case "order.status_updated":
		outcome.Updated = &UpdatedOrderEvent{}
		if err := json.Unmarshal(event.Data, outcome.Updated); err != nil {
			outcome.Updated, outcome.Error = nil, "order.status_updated data: "+err.Error()
		}
	default:
		outcome.Unknown = true
	}
	return outcome
}

func main() {
	brokers := flag.String("brokers", "", "bootstrap brokers, comma-separated")
	topic := flag.String("topic", "", "the topic to read")
	group := flag.String("group", "notification-service", "the consumer group")
	count := flag.Int("count", 0, "stop after this many messages")
	timeout := flag.Duration("timeout", 60*time.Second, "give up after this long")
	flag.Parse()
	if *brokers == "" || *topic == "" || *count <= 0 {
		fmt.Fprintln(os.Stderr, "usage: seed-consumer -brokers B -topic T -count N [-group G] [-timeout D]")
		os.Exit(2)
	}
	// The notification-service's reader (internal/consumer.go), but for the brokers and topic.
	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        strings.Split(*brokers, ","),
		Topic:          *topic,
		GroupID:        *group,
		MinBytes:       10e3,
		MaxBytes:       10e6,
		CommitInterval: time.Second,
		ReadBackoffMin: time.Second,
		ReadBackoffMax: 5 * time.Second,
	})
	defer reader.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	out := json.NewEncoder(os.Stdout)
	for read := 0; read < *count; read++ {
		message, err := reader.ReadMessage(ctx)
		if err != nil {
			fmt.Fprintf(os.Stderr, "after %d of %d messages: %v\n", read, *count, err)
			os.Exit(1)
		}
		if err := out.Encode(decode(message)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
