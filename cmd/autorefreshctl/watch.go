package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/autorefresh/autorefresh/client"
)

// eventLine is one event of watch -o json.
type eventLine struct {
	Event  client.EventKind `json:"event"`
	ID     string           `json:"id,omitempty"`
	ItemID string           `json:"itemId,omitempty"`
	Data   json.RawMessage  `json:"data"`
}

// watch runs "watch CACHE": it prints events until interrupted.
func (c *cli) watch(ctx context.Context, args []string) error {
	fs := c.flags("watch")
	var opts client.WatchOptions
	fs.StringVar(&opts.ItemID, "item", "", "only this item's events")
	fs.StringVar(&opts.LastEventID, "last-event-id", "", "resume after this event id")
	words, err := parse(fs, args, 1, 1, "a cache name")
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	enc := json.NewEncoder(c.stdout)
	for ev, err := range cl.Watch(ctx, words[0], opts) {
		if err != nil {
			return err
		}
		if c.g.output == "json" {
			if err := enc.Encode(eventLine{Event: ev.Kind, ID: ev.ID, ItemID: ev.ItemID, Data: ev.Data}); err != nil {
				return err
			}
			continue
		}
		switch {
		case ev.Kind == client.EventLagged:
			_, err = fmt.Fprintf(c.stdout, "%-9s %s\n", ev.Kind, ev.Message)
		case ev.Item != nil:
			_, err = fmt.Fprintf(c.stdout, "%-9s %s v%d %s\n", ev.Kind, ev.ItemID, ev.Item.Version, short(string(ev.Item.Data), 80))
		default:
			_, err = fmt.Fprintf(c.stdout, "%-9s %s\n", ev.Kind, ev.ItemID)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
