package main

import (
	"github.com/IBM/sarama"
)

// topicPartition names one partition.
type topicPartition struct {
	topic     string
	partition int32
}

// fetchGroupOffsets reads group's committed offsets of parts; a partition without one is left
// out, and a group that never committed gives an empty map.
func fetchGroupOffsets(client sarama.Client, group string, parts map[string][]int32) (map[topicPartition]int64, error) {
	out := map[topicPartition]int64{}
	b, err := client.Coordinator(group)
	if err != nil {
		return nil, err
	}
	resp, err := b.FetchOffset(sarama.NewOffsetFetchRequest(client.Config().Version, group, parts))
	if err != nil {
		return nil, err
	}
	if resp.Err == sarama.ErrGroupIDNotFound { // a group that never committed (Kafka answers -1s)
		return out, nil
	}
	if resp.Err != sarama.ErrNoError {
		return nil, resp.Err
	}
	for topic, ps := range parts {
		for _, p := range ps {
			if blk := resp.GetBlock(topic, p); blk != nil && blk.Err == sarama.ErrNoError && blk.Offset >= 0 {
				out[topicPartition{topic, p}] = blk.Offset
			}
		}
	}
	return out, nil
}

// commitGroupOffsets stores offsets as group's committed offsets with a simple commit
// (generation -1: the group must have no members, or the coordinator refuses it).
func commitGroupOffsets(client sarama.Client, group string, offsets map[topicPartition]int64) error {
	if len(offsets) == 0 {
		return nil
	}
	b, err := client.Coordinator(group)
	if err != nil {
		return err
	}
	req := &sarama.OffsetCommitRequest{ConsumerGroup: group, ConsumerGroupGeneration: -1, Version: 2, RetentionTime: -1}
	for tp, off := range offsets {
		req.AddBlock(tp.topic, tp.partition, off, 0, "")
	}
	resp, err := b.CommitOffset(req)
	if err != nil {
		return err
	}
	for _, ps := range resp.Errors {
		for _, e := range ps {
			if e != sarama.ErrNoError {
				return e
			}
		}
	}
	return nil
}
