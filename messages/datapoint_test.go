package messages

import "testing"

func TestRowsReuseAfterReset(t *testing.T) {
	var rs Rows
	mark := rs.TagsMark()
	rs.AddTag([]byte("host"), []byte("a"))
	dp := rs.NextPoint()
	dp.Metric, dp.Tags, dp.Timestamp, dp.Value = []byte("m"), rs.TagsSince(mark), 5, 1.5
	rs.AddBad([]byte("junk"), ReasonUnparseable, "x")

	rs.Reset()
	if len(rs.Points) != 0 || len(rs.Bad) != 0 || rs.TagsMark() != 0 {
		t.Fatalf("after Reset: %d points, %d bad, %d tags", len(rs.Points), len(rs.Bad), rs.TagsMark())
	}
	// A reused slot must come back zeroed, with no tags of the earlier row.
	dp = rs.NextPoint()
	if dp.Metric != nil || dp.Tags != nil || dp.Timestamp != 0 || dp.Value != 0 {
		t.Fatalf("reused point not zeroed: %+v", *dp)
	}
	if got := rs.TagsSince(rs.TagsMark()); got != nil {
		t.Fatalf("TagsSince on an empty pool = %v", got)
	}
}

func TestRowsClearDropsReferences(t *testing.T) {
	var rs Rows
	mark := rs.TagsMark()
	rs.AddTag([]byte("host"), []byte("a"))
	dp := rs.NextPoint()
	dp.Metric, dp.Tags = []byte("m"), rs.TagsSince(mark)
	rs.AddBad([]byte("junk"), ReasonUnparseable, "x")

	rs.Clear()
	if len(rs.Points) != 0 || len(rs.Bad) != 0 || rs.TagsMark() != 0 {
		t.Fatalf("after Clear: %d points, %d bad, %d tags", len(rs.Points), len(rs.Bad), rs.TagsMark())
	}
	if p := rs.Points[:1][0]; p.Metric != nil || p.Tags != nil {
		t.Errorf("Clear kept a point's references: %+v", p)
	}
	if tg := rs.tagsPool[:1][0]; tg.Key != nil || tg.Value != nil {
		t.Errorf("Clear kept a tag's references: %+v", tg)
	}
	if b := rs.Bad[:1][0]; b.Line != nil {
		t.Errorf("Clear kept a bad line's bytes: %+v", b)
	}
}
