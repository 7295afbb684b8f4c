// Command xmlleads writes the records of a leads CSV (../shared/bench/
// gen-leads) as namespaced XML, for bench/xml.sh: the first field as an
// attribute, the others as elements in a namespace. It streams, so a file
// of gigabytes takes little memory.
//
//	go run ./bench/xmlleads leads.csv > leads.xml
package main

import (
	"bufio"
	"encoding/csv"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "xmlleads:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: xmlleads LEADS.csv > LEADS.xml")
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReaderSize(f, 1<<20))
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		return err
	}
	names := append([]string(nil), header...)
	w := bufio.NewWriterSize(stdout, 1<<20)
	w.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<crm:leads xmlns:crm="urn:example:crm" xmlns:l="urn:example:lead">` + "\n")
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(w, `  <l:lead %s="`, names[0])
		xml.EscapeText(w, []byte(rec[0]))
		w.WriteString(`">`)
		for i, v := range rec[1:] {
			fmt.Fprintf(w, "<l:%s>", names[i+1])
			xml.EscapeText(w, []byte(v))
			fmt.Fprintf(w, "</l:%s>", names[i+1])
		}
		w.WriteString("</l:lead>\n")
	}
	w.WriteString("</crm:leads>\n")
	return w.Flush()
}
