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

// Process is what /proc/<pid>/stat says of a process.
type Process struct {
	Name string
	// Kernel is set for the kernel's own threads (kthreadd, pid 2, and its children). Their
	// figures are not to be trusted on every machine: on this project's CI virtual machine the
	// per-CPU workers report about 20% of a CPU each while /proc/stat shows the machine idle.
	Kernel bool
	// CPU is user plus system time so far.
	CPU time.Duration
}

// ReadProcess reads /proc/<pid>/stat; ok is false when the process is gone or the file cannot
// be read.
func ReadProcess(pid int) (p Process, ok bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Process{}, false
	}
	return parseStat(data)
}

// ProcessCPU returns a process's name and its user plus system CPU time so far, from
// /proc/<pid>/stat; ok is false when the process is gone or the file cannot be read.
func ProcessCPU(pid int) (name string, cpu time.Duration, ok bool) {
	p, ok := ReadProcess(pid)
	return p.Name, p.CPU, ok
}

// parseStat reads "pid (comm) state ppid … utime stime …": the name may hold spaces and
// parentheses, so the fields count from after its last closing parenthesis.
func parseStat(data []byte) (p Process, ok bool) {
	open, end := bytes.IndexByte(data, '('), bytes.LastIndexByte(data, ')')
	if open < 0 || end < open {
		return Process{}, false
	}
	pid, err0 := strconv.Atoi(string(bytes.TrimSpace(data[:open])))
	fields := bytes.Fields(data[end+1:])
	if err0 != nil || len(fields) < 13 {
		return Process{}, false
	}
	ppid, err1 := strconv.Atoi(string(fields[1]))
	utime, err2 := strconv.ParseInt(string(fields[11]), 10, 64)
	stime, err3 := strconv.ParseInt(string(fields[12]), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return Process{}, false
	}
	return Process{Name: string(data[open+1 : end]), Kernel: pid == 2 || ppid == 2, CPU: time.Duration(utime+stime) * clockTick}, true
}

// MachineCPU is the machine's CPU time so far, summed over its CPUs, from the first line of
// /proc/stat.
type MachineCPU struct {
	// Busy is time spent running anything: user, nice, system, interrupts and softirqs (guest
	// time is already counted in user).
	Busy time.Duration
	// Idle is idle and I/O-wait time.
	Idle time.Duration
	// Steal is time the hypervisor gave the virtual CPUs to someone else while they had work.
	Steal time.Duration
}

// ReadMachineCPU reads /proc/stat; ok is false where it cannot be read.
func ReadMachineCPU() (MachineCPU, bool) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return MachineCPU{}, false
	}
	return parseMachineStat(data)
}

// parseMachineStat reads "cpu user nice system idle iowait irq softirq steal …", in USER_HZ.
// Kernels before 2.6.11 lack steal; the line must have at least the first seven figures.
func parseMachineStat(data []byte) (MachineCPU, bool) {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	fields := bytes.Fields(line)
	if len(fields) < 8 || string(fields[0]) != "cpu" {
		return MachineCPU{}, false
	}
	var v [8]int64
	for i := range v {
		if i+1 >= len(fields) {
			break
		}
		n, err := strconv.ParseInt(string(fields[i+1]), 10, 64)
		if err != nil {
			return MachineCPU{}, false
		}
		v[i] = n
	}
	const user, nice, system, idle, iowait, irq, softirq, steal = 0, 1, 2, 3, 4, 5, 6, 7
	return MachineCPU{
		Busy:  time.Duration(v[user]+v[nice]+v[system]+v[irq]+v[softirq]) * clockTick,
		Idle:  time.Duration(v[idle]+v[iowait]) * clockTick,
		Steal: time.Duration(v[steal]) * clockTick,
	}, true
}
