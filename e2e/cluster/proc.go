package cluster

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTick is the unit of /proc/<pid>/stat's times: USER_HZ, 100 on every Linux architecture
// Go supports.
const clockTick = 10 * time.Millisecond

// ProcessCPU returns a process's name and its user plus system CPU time so far, from
// /proc/<pid>/stat; ok is false when the process is gone or the file cannot be read.
func ProcessCPU(pid int) (name string, cpu time.Duration, ok bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, false
	}
	return parseStat(data)
}

// parseStat reads "pid (comm) state ppid … utime stime …": the name may hold spaces and
// parentheses, so the fields count from after its last closing parenthesis.
func parseStat(data []byte) (name string, cpu time.Duration, ok bool) {
	open, end := bytes.IndexByte(data, '('), bytes.LastIndexByte(data, ')')
	if open < 0 || end < open {
		return "", 0, false
	}
	fields := bytes.Fields(data[end+1:])
	if len(fields) < 13 {
		return "", 0, false
	}
	utime, err1 := strconv.ParseInt(string(fields[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(fields[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return "", 0, false
	}
	return string(data[open+1 : end]), time.Duration(utime+stime) * clockTick, true
}
