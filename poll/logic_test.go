package poll

import (
	"testing"
)

func TestDedupe(t *testing.T) {
	var d Dedupe
	a, b, c := []byte(`{"id":1}`), []byte(`{"id":2}`), []byte(`{"id":3}`)
	for _, st := range []struct {
		name string
		in   [][]byte
		want []string
	}{
		{"first response passes", [][]byte{a, b}, []string{"{\"id\":1}", "{\"id\":2}"}},
		{"overlap dropped, order kept", [][]byte{b, c, a}, []string{"{\"id\":3}"}},
		{"only the last response counts", [][]byte{c}, nil},
		{"a seen before the last response is new again", [][]byte{a, a}, []string{"{\"id\":1}", "{\"id\":1}"}},
		{"empty response forgets", nil, nil},
		{"after forgetting", [][]byte{a}, []string{"{\"id\":1}"}},
	} {
		got := d.Filter(st.in)
		if len(got) != len(st.want) {
			t.Fatalf("%s: Filter = %q, want %q", st.name, got, st.want)
		}
		for i := range got {
			if string(got[i]) != st.want[i] {
				t.Errorf("%s: Filter[%d] = %q, want %q", st.name, i, got[i], st.want[i])
			}
		}
	}
}
