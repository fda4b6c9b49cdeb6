package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/status"
)

// statusCmd prints a running sluice's status document (GET /api/v1/status) as a terminal
// summary, once or, with -watch, again every interval until interrupted: the status page for a
// host without a browser.
func statusCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("status", stderr)
	addr := fs.String("address", "127.0.0.1:9464", "host:port of the process's http listener")
	watch := fs.Bool("watch", false, "print the status again every -interval, clearing the terminal")
	interval := fs.Duration("interval", 2*time.Second, "with -watch: how often")
	asJSON := fs.Bool("json", false, "print the document as JSON instead")
	parts := fs.Int("partitions", 20, "show at most this many partitions, the worst first")
	events := fs.Int("events", 10, "show at most this many recent events")
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	for {
		doc, raw, err := fetchStatus(client, *addr)
		if err != nil {
			fmt.Fprintf(stderr, "sluice status: %v\n", err)
			return exitError
		}
		if *watch {
			fmt.Fprint(stdout, "\x1b[H\x1b[2J") // home, clear
		}
		if *asJSON {
			_, _ = stdout.Write(raw)
		} else {
			_ = status.WriteText(stdout, doc, *parts, *events)
		}
		if !*watch {
			return exitOK
		}
		time.Sleep(*interval)
	}
}

func fetchStatus(client *http.Client, addr string) (status.Doc, []byte, error) {
	var doc status.Doc
	resp, err := client.Get("http://" + addr + "/api/v1/status")
	if err != nil {
		return doc, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return doc, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return doc, nil, fmt.Errorf("GET /api/v1/status: %s", resp.Status)
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return doc, nil, fmt.Errorf("GET /api/v1/status: %w", err)
	}
	if doc.Schema != status.SchemaVersion {
		return doc, nil, fmt.Errorf("the process serves status schema %d; this sluice reads %d", doc.Schema, status.SchemaVersion)
	}
	return doc, raw, nil
}
