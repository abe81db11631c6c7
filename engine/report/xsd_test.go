package report_test

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// node is an XML element read generically: a schema or a document.
type node struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Children []node     `xml:",any"`
	Text     string     `xml:",chardata"`
}

func (n node) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// xsd is the part of XML Schema that JUnit's schema uses: global elements
// (by ref or with a named or inline complexType, or xs:string), sequence
// and choice with occurrence bounds, attributes with use="required", mixed
// content. Enough to check a report as Jenkins' schema does, in Go.
type xsd struct {
	elements map[string]node
	types    map[string]node
}

func loadXSD(t *testing.T, path string) *xsd {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var root node
	if err := xml.Unmarshal(data, &root); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	s := &xsd{elements: map[string]node{}, types: map[string]node{}}
	for _, c := range root.Children {
		switch c.XMLName.Local {
		case "element":
			s.elements[c.attr("name")] = c
		case "complexType":
			s.types[c.attr("name")] = c
		}
	}
	return s
}

// validate checks a document against the schema, returning the first
// violation.
func (s *xsd) validate(doc []byte) error {
	var root node
	if err := xml.NewDecoder(bytes.NewReader(doc)).Decode(&root); err != nil {
		return err
	}
	return s.check(root, "/"+root.XMLName.Local)
}

func (s *xsd) check(n node, where string) error {
	decl, ok := s.elements[n.XMLName.Local]
	if !ok {
		return fmt.Errorf("%s: no element %q in the schema", where, n.XMLName.Local)
	}
	var ct node
	switch typ := decl.attr("type"); {
	case typ == "xs:string":
		if len(n.Attrs) > 0 || len(n.Children) > 0 {
			return fmt.Errorf("%s: text only, no attributes or elements", where)
		}
		return nil
	case typ != "":
		ct = s.types[typ]
	default:
		for _, c := range decl.Children {
			if c.XMLName.Local == "complexType" {
				ct = c
			}
		}
	}
	declared := map[string]bool{}
	model := "^$"
	for _, c := range ct.Children {
		switch c.XMLName.Local {
		case "attribute":
			declared[c.attr("name")] = true
			if c.attr("use") == "required" && !hasAttr(n, c.attr("name")) {
				return fmt.Errorf("%s: attribute %q is required", where, c.attr("name"))
			}
		case "sequence", "choice":
			model = "^" + particle(c) + "$"
		}
	}
	for _, a := range n.Attrs {
		if !declared[a.Name.Local] {
			return fmt.Errorf("%s: attribute %q is not in the schema", where, a.Name.Local)
		}
	}
	if ct.attr("mixed") != "true" && strings.TrimSpace(n.Text) != "" {
		return fmt.Errorf("%s: text is not allowed here", where)
	}
	var seq strings.Builder
	for _, c := range n.Children {
		seq.WriteString("<" + c.XMLName.Local + ">")
	}
	if !regexp.MustCompile(model).MatchString(seq.String()) {
		return fmt.Errorf("%s: children %s do not match the content model %s", where, seq.String(), model)
	}
	for _, c := range n.Children {
		if err := s.check(c, where+"/"+c.XMLName.Local); err != nil {
			return err
		}
	}
	return nil
}

func hasAttr(n node, name string) bool {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return true
		}
	}
	return false
}

// particle turns a content model into a regular expression over the
// children's names, each written <name>.
func particle(n node) string {
	var re string
	switch n.XMLName.Local {
	case "element":
		re = "(?:" + regexp.QuoteMeta("<"+n.attr("ref")+">") + ")"
	case "sequence", "choice":
		var parts []string
		for _, c := range n.Children {
			parts = append(parts, particle(c))
		}
		sep := ""
		if n.XMLName.Local == "choice" {
			sep = "|"
		}
		re = "(?:" + strings.Join(parts, sep) + ")"
	}
	lo, hi := n.attr("minOccurs"), n.attr("maxOccurs")
	switch {
	case lo == "0" && hi == "unbounded":
		return re + "*"
	case hi == "unbounded":
		return re + "+"
	case lo == "0":
		return re + "?"
	}
	return re
}
