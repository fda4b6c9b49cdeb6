package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/IBM/sarama"
)

// produceCmd writes stdin's lines to a topic, unkeyed as agents write them: -lines N lines per
// record (the default 1), so that a user with only Go installed can feed dev mode or a test
// cluster without kcat.
func produceCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("produce", stderr)
	kf := addKafkaFlags(fs, "produce")
	topic := fs.String("topic", "", "the topic to write to (default: -config's first input topic)")
	perRecord := fs.Int("lines", 1, "lines per record (a whole-record format such as json or remote_write: 0, all of stdin as one record)")
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
	}
	if !kf.resolve(stderr) {
		return exitError
	}
	if *topic == "" && kf.cfg != nil {
		*topic = kf.cfg.Inputs[0].Topics[0]
	}
	if *topic == "" {
		fmt.Fprintln(stderr, "sluice produce: -topic is required (or -config with an input)")
		return exitError
	}
	if *perRecord < 0 {
		fmt.Fprintln(stderr, "sluice produce: -lines must be 0 or more")
		return exitError
	}
	sc := kf.saramaConfig()
	sc.Producer.Return.Successes = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Partitioner = sarama.NewRoundRobinPartitioner
	client := kf.client(sc, stderr)
	if client == nil {
		return exitError
	}
	defer client.Close()
	prod, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		kf.fail(stderr, err)
		return exitError
	}
	defer prod.Close()

	records, lines := 0, 0
	var rec bytes.Buffer
	inRec := 0
	send := func() bool {
		if rec.Len() == 0 {
			return true
		}
		value := bytes.Clone(rec.Bytes())
		if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: *topic, Value: sarama.ByteEncoder(value)}); err != nil {
			fmt.Fprintf(stderr, "sluice produce: writing to %s: %v (%d records written before)\n", *topic, err, records)
			return false
		}
		records++
		rec.Reset()
		inRec = 0
		return true
	}
	br := bufio.NewReaderSize(stdin, 1<<20)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			if *perRecord == 1 && len(bytes.TrimSpace(line)) == 0 {
				continue // a blank line is not a record
			}
			rec.Write(line)
			lines++
			inRec++
			if *perRecord > 0 && inRec == *perRecord && !send() {
				return exitError
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintf(stderr, "sluice produce: reading stdin: %v\n", err)
			return exitError
		}
	}
	if !send() {
		return exitError
	}
	fmt.Fprintf(stdout, "produced %d records (%d lines) to %s\n", records, lines, *topic)
	return exitOK
}
