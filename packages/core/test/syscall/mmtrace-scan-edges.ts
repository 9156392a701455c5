/*
 * Hand-written mmtrace lines around the form the recorder writes, with what the scanner
 * and the JSON path make of each (`mmtrace-scan.test.ts`).
 */

/** An address inside the test headers' window, as a field. */
const A = '"addr":"0x100000001000"';

/**
 * Lines around the recorder's form: whether the scanner takes each under a v1 header (and
 * then under v2 too), only under v2, or not at all, and what `parseOp` answers for a line it
 * leaves (the error under v1, then under v2 where that differs; no error where the JSON path
 * reads the line). JSON syntax errors are compared up to their column.
 */
export const EDGES: readonly (readonly [
  line: string,
  takes: 'v1' | 'v2' | 'no',
  v1Error?: string | null,
  v2Error?: string | null,
])[] = [
  // the recorder's order, every op
  [`{"op":"mmap","pid":0,${A},"len":"0x2000","prot":"rw-","flags":["private","anonymous"]}`, 'v1'],
  [
    `{"op":"mmap","pid":0,${A},"len":"0x2000","prot":"rw-","flags":["private","anonymous"],"offset":"0x0"}`,
    'v1',
  ],
  [
    `{"op":"mmap","pid":0,${A},"len":"0x2000","prot":"rw-","flags":["shared_validate","anonymous","populate"]}`,
    'v2',
    'field "flags": flag "shared_validate" needs an mmtrace v2 header',
    null,
  ],
  [
    `{"op":"mremap","pid":1,${A},"old_len":"0x1000","new_len":"0x2000","flags":["maymove","fixed"],"new_addr":"0x100000100000"}`,
    'v1',
  ],
  [`{"op":"mremap","pid":1,${A},"old_len":"0x1000","new_len":"0x2000","flags":[]}`, 'v1'],
  [
    `{"op":"mremap","pid":1,${A},"old_len":"0x1000","new_len":"0x1000","flags":["maymove","dontunmap"],"new_addr":"0x100000100000"}`,
    'v2',
    'field "flags": flag "dontunmap" needs an mmtrace v2 header',
    null,
  ],
  [`{"op":"madvise","pid":0,${A},"len":"0x1000","advice":"dontneed"}`, 'v1'],
  [
    `{"op":"madvise","pid":0,${A},"len":"0x1000","advice":"populate_write"}`,
    'v2',
    'field "advice": "populate_write" needs an mmtrace v2 header',
    null,
  ],
  [`{"op":"mprotect","pid":0,${A},"len":"0x1000","prot":"r-x"}`, 'v1'],
  [`{"op":"write","pid":2,${A},"data":"00ff10ab"}`, 'v1'],
  [`{"op":"write","pid":2,${A},"data":""}`, 'v1'],
  [`{"op":"read","pid":2,${A},"len":"0x10"}`, 'v1'],
  [`{"op":"mincore","pid":0,${A},"len":"0x3000"}`, 'v2', 'op "mincore" needs an mmtrace v2 header', null],
  [
    `{"op":"mlock","pid":0,${A},"len":"0x1000","flags":["onfault"]}`,
    'v2',
    'op "mlock" needs an mmtrace v2 header',
    null,
  ],
  [`{"op":"mlock","pid":0,${A},"len":"0x1000"}`, 'v2', 'op "mlock" needs an mmtrace v2 header', null],
  [
    `{"op":"mlockall","pid":0,"flags":["current","future"]}`,
    'v2',
    'op "mlockall" needs an mmtrace v2 header',
    null,
  ],
  [`{"op":"brk","pid":0,"delta":"0x1000"}`, 'v2', 'op "brk" needs an mmtrace v2 header', null],
  [`{"op":"brk","pid":0}`, 'v2', 'op "brk" needs an mmtrace v2 header', null],
  [`{"op":"rss","pid":0}`, 'v2', 'op "rss" needs an mmtrace v2 header', null],
  [`{"op":"munlockall","pid":0}`, 'v2', 'op "munlockall" needs an mmtrace v2 header', null],
  [`{"op":"munlock","pid":0,${A},"len":"0x1000"}`, 'v2', 'op "munlock" needs an mmtrace v2 header', null],
  [`{"op":"msync","pid":0,${A},"len":"0x1000"}`, 'v1'],
  [`{"op":"fork","pid":0}`, 'v1'],
  [`{"op":"exit","pid":3}`, 'v1'],
  [`{"op":"maps","pid":0}`, 'v1'],
  [`{"op":"maps"}`, 'v1'],
  // other key orders
  [`{"op":"mmap","pid":0,"len":"0x2000",${A},"flags":["anonymous","private"],"prot":"rw-"}`, 'v1'],
  [`{"op":"mmap","flags":["private","anonymous"],"prot":"---","len":"0x1000",${A},"pid":4}`, 'v1'],
  [
    `{"op":"mremap","pid":1,"new_addr":"0x100000100000","flags":["fixed","maymove"],"new_len":"0x2000","old_len":"0x1000",${A}}`,
    'v1',
  ],
  [`{"op":"read","len":"0x10",${A},"pid":2}`, 'v1'],
  [`{"op":"write","data":"0102",${A},"pid":0}`, 'v1'],
  [`{"pid":0,"op":"munmap",${A},"len":"0x1000"}`, 'no'],
  // whitespace
  [`{"op":"munmap","pid":0,${A},"len":"0x1000"} `, 'no'],
  [` {"op":"munmap","pid":0,${A},"len":"0x1000"}`, 'no'],
  [`{"op": "munmap","pid":0,${A},"len":"0x1000"}`, 'no'],
  [`{"op":"munmap", "pid":0,${A},"len":"0x1000"}`, 'no'],
  [`{"op":"munmap","pid":0,"addr": "0x100000001000","len":"0x1000"}`, 'no'],
  [`{"op":"mmap","pid":0,${A},"len":"0x2000","prot":"rw-","flags":["private", "anonymous"]}`, 'no'],
  [`{"op":"munmap","pid":0,${A},"len":"0x1000"}\r`, 'no'],
  [`{"op":"munmap","pid":0,${A},"len":"0x1000"\t}`, 'no'],
  // escapes
  [`{"op":"munm\\u0061p","pid":0,${A},"len":"0x1000"}`, 'no'],
  [`{"op":"munmap","pid":0,"\\u0061ddr":"0x100000001000","len":"0x1000"}`, 'no'],
  [`{"op":"munmap","pid":0,${A},"len":"0x10\\u00300"}`, 'no'],
  [`{"op":"madvise","pid":0,${A},"len":"0x1000","advice":"dont\\u006eeed"}`, 'no'],
  [`{"op":"mmap","pid":0,${A},"len":"0x2000","prot":"rw-","flags":["priv\\u0061te","anonymous"]}`, 'no'],
  [`{"op":"write","pid":0,${A},"data":"\\u00301"}`, 'no'],
  [`{"op":"munmap","pid":0,${A},"len":"0x1000","\\"":1}`, 'no', 'op "munmap" has no field """'],
  // 16-digit hex and its neighbours
  [`{"op":"munmap","pid":0,${A},"len":"0xfffffffffffff000"}`, 'v1'],
  [`{"op":"munmap","pid":0,${A},"len":"0x0000000000001000"}`, 'v1'],
  [`{"op":"munmap","pid":0,${A},"len":"0x00000000000001000"}`, 'no'],
  [`{"op":"munmap","pid":0,${A},"len":"0x1fffffffffffff"}`, 'v1'],
  [`{"op":"munmap","pid":0,${A},"len":"0x20000000000000"}`, 'v1'],
  [`{"op":"munmap","pid":0,${A},"len":"0x10000000000000"}`, 'v1'],
  [`{"op":"munmap","pid":0,"addr":"0xffffffffffffffff","len":"0x1000"}`, 'v1'],
  [
    `{"op":"mremap","pid":0,${A},"old_len":"0x8000000000000000","new_len":"0x1000","flags":["maymove"]}`,
    'v1',
  ],
  [`{"op":"read","pid":0,"addr":"0x000000100000001000","len":"0x1"}`, 'no'],
  [
    `{"op":"read","pid":0,"addr":"0x0010000000000000","len":"0x1"}`,
    'no',
    "address 0x10000000000000 is outside the trace's window",
  ],
  [
    `{"op":"mincore","pid":0,"addr":"0xfffffffffffff000","len":"0x1000"}`,
    'no',
    'op "mincore" needs an mmtrace v2 header',
    null,
  ],
  [`{"op":"brk","pid":0,"delta":"0xfffffffffffff000"}`, 'v2', 'op "brk" needs an mmtrace v2 header', null],
  // unknown or misplaced flags and names
  [
    `{"op":"mmap","pid":0,${A},"len":"0x2000","prot":"rw-","flags":["private","anonymous","huge"]}`,
    'no',
    'field "flags": unknown flag "huge"',
  ],
  [
    `{"op":"mmap","pid":0,${A},"len":"0x2000","prot":"rw-","flags":["Private","anonymous"]}`,
    'no',
    'field "flags": unknown flag "Private"',
  ],
  [
    `{"op":"mmap","pid":0,${A},"len":"0x2000","prot":"rw-","flags":["privatE","anonymous"]}`,
    'no',
    'field "flags": unknown flag "privatE"',
  ],
  [
    `{"op":"mmap","pid":0,${A},"len":"0x2000","prot":"rw-","flags":["private","anonymous","maymove"]}`,
    'no',
    'field "flags": unknown flag "maymove"',
  ],
  [
    // A name given twice counts once (as the Linux recorder reads it); the scanner leaves it.
    `{"op":"mmap","pid":0,${A},"len":"0x2000","prot":"rw-","flags":["private","anonymous","private"]}`,
    'no',
    null,
  ],
  [
    `{"op":"mmap","pid":0,${A},"len":"0x2000","prot":"rw-","flags":["private","anonymous","shared"]}`,
    'no',
    'field "flags": expected exactly one of "private", "shared", "shared_validate"',
  ],
  [
    `{"op":"mmap","pid":0,${A},"len":"0x2000","prot":"rw-","flags":["private","anonymous",""]}`,
    'no',
    'field "flags": unknown flag ""',
  ],
  [
    `{"op":"mmap","pid":0,${A},"len":"0x2000","prot":"rw-","flags":["private","anonymous",]}`,
    'no',
    'not valid JSON: column 105',
  ],
  [
    `{"op":"mmap","pid":0,${A},"len":"0x2000","prot":"rw-","flags":"private"}`,
    'no',
    'field "flags": expected an array of flag names',
  ],
  [
    `{"op":"mmap","pid":0,${A},"len":"0x2000","prot":"rw-","flags":["private","anonymous","32bit"]}`,
    'v2',
    'field "flags": flag "32bit" needs an mmtrace v2 header',
    null,
  ],
  [
    `{"op":"mmap","pid":0,${A},"len":"0x2000","prot":"rw-","flags":["private","anonymous","fixed","fixed_noreplace"]}`,
    'no',
    'field "flags": "fixed" and "fixed_noreplace" exclude each other',
  ],
  [
    `{"op":"mremap","pid":1,${A},"old_len":"0x1000","new_len":"0x2000","flags":["maymove","shared"]}`,
    'no',
    'field "flags": unknown flag "shared"',
  ],
  [
    `{"op":"mremap","pid":1,${A},"old_len":"0x1000","new_len":"0x2000","flags":["dontunmap"]}`,
    'no',
    'field "flags": flag "dontunmap" needs an mmtrace v2 header',
    '"dontunmap" needs "new_addr"',
  ],
  [
    `{"op":"mlock","pid":0,${A},"len":"0x1000","flags":["current"]}`,
    'no',
    'op "mlock" needs an mmtrace v2 header',
    'field "flags": unknown flag "current"',
  ],
  [
    `{"op":"mlockall","pid":0,"flags":["onfault","private"]}`,
    'no',
    'op "mlockall" needs an mmtrace v2 header',
    'field "flags": unknown flag "private"',
  ],
  [
    `{"op":"madvise","pid":0,${A},"len":"0x1000","advice":"dontneeds"}`,
    'no',
    'field "advice": unknown advice "dontneeds"',
  ],
  [
    `{"op":"madvise","pid":0,${A},"len":"0x1000","advice":"dontfork"}`,
    'v2',
    'field "advice": "dontfork" needs an mmtrace v2 header',
    null,
  ],
  [
    `{"op":"madvise","pid":0,${A},"len":"0x1000","advice":"dodump"}`,
    'v2',
    'field "advice": "dodump" needs an mmtrace v2 header',
    null,
  ],
  [`{"op":"madvise","pid":0,${A},"len":"0x1000","advice":""}`, 'no', 'field "advice": unknown advice ""'],
  [`{"op":"madvise","pid":0,${A},"len":"0x1000","advice":4}`, 'no', 'field "advice": unknown advice 4'],
  [
    `{"op":"mmap","pid":0,${A},"len":"0x2000","prot":"wr-","flags":["private","anonymous"]}`,
    'no',
    'field "prot": expected three characters like "rw-"',
  ],
  [
    `{"op":"mmap","pid":0,${A},"len":"0x2000","prot":"rw","flags":["private","anonymous"]}`,
    'no',
    'field "prot": expected three characters like "rw-"',
  ],
  [`{"op":"mmapx","pid":0}`, 'no', 'unknown op "mmapx"'],
  [`{"op":"mmp","pid":0}`, 'no', 'unknown op "mmp"'],
  [`{"op":"MAPS","pid":0}`, 'no', 'unknown op "MAPS"'],
  [`{"op":"","pid":0}`, 'no', 'unknown op ""'],
  [`{"op":"file","name":"f","size":"0x1000"}`, 'no'],
  [
    `{"op":"mmap","pid":0,${A},"len":"0x2000","prot":"rw-","flags":["shared"],"file":"f","offset":"0x0"}`,
    'no',
  ],
  // duplicate and unknown keys
  [`{"op":"munmap","pid":0,${A},${A},"len":"0x1000"}`, 'no'],
  [`{"op":"munmap","pid":0,${A},"len":"0x1000","len":"0x2000"}`, 'no'],
  [`{"op":"munmap","pid":0,"pid":1,${A},"len":"0x1000"}`, 'no'],
  [`{"op":"munmap","op":"munmap","pid":0,${A},"len":"0x1000"}`, 'no'],
  [`{"op":"munmap","pid":0,${A},"len":"0x1000","prot":"rw-"}`, 'no', 'op "munmap" has no field "prot"'],
  [`{"op":"munmap","pid":0,${A},"len":"0x1000","lens":"0x1000"}`, 'no', 'op "munmap" has no field "lens"'],
  [`{"op":"munmap","pid":0,${A},"le":"0x1000"}`, 'no', 'op "munmap" has no field "le"'],
  [
    `{"op":"brk","pid":0,"delta":"0x1000","delta":"0x2000"}`,
    'no',
    'op "brk" needs an mmtrace v2 header',
    null,
  ],
  // truncated
  [`{"op":"munmap","pid":0,${A},"len":"0x1000"`, 'no', 'not valid JSON: column 62'],
  [`{"op":"munmap","pid":0,${A},"len":"0x1000`, 'no', 'not valid JSON: column 61'],
  [`{"op":"munmap","pid":0,${A},"len":"0x`, 'no', 'not valid JSON: column 57'],
  [`{"op":"munmap","pid":0,${A},"len":`, 'no', 'not valid JSON: column 54'],
  [`{"op":"munmap","pid":0,${A},"len"`, 'no', 'not valid JSON: column 53'],
  [`{"op":"munmap","pid":0,${A},`, 'no', 'not valid JSON: column 48'],
  [`{"op":"munmap","pid":0`, 'no', 'not valid JSON: column 23'],
  [`{"op":"munmap"`, 'no', 'not valid JSON: column 15'],
  [`{"op":"munm`, 'no', 'not valid JSON: column 12'],
  [`{"op":"`, 'no', 'not valid JSON: column 8'],
  [`{"op"`, 'no', 'not valid JSON: column 6'],
  [`{`, 'no', 'not valid JSON: column 2'],
  [``, 'no', 'blank line (every line must be one JSON object)'],
  [
    `{"op":"mmap","pid":0,${A},"len":"0x2000","prot":"rw-","flags":["private","anonymous"`,
    'no',
    'not valid JSON: column 104',
  ],
  [
    `{"op":"mmap","pid":0,${A},"len":"0x2000","prot":"rw-","flags":["private","anonymous`,
    'no',
    'not valid JSON: column 103',
  ],
  [`{"op":"mmap","pid":0,${A},"len":"0x2000","prot":"rw`, 'no', 'not valid JSON: column 71'],
  [`{"op":"write","pid":2,${A},"data":"00ff1`, 'no', 'not valid JSON: column 60'],
  [`{"op":"maps","pid":0}}`, 'no', 'not valid JSON: column 22'],
  [`{"op":"maps","pid":0},`, 'no', 'not valid JSON: column 22'],
  // bad hex and numbers
  [
    `{"op":"munmap","pid":0,${A},"len":"0x"}`,
    'no',
    'field "len": expected a lower-case 0x hex string, got "0x"',
  ],
  [
    `{"op":"munmap","pid":0,${A},"len":"1000"}`,
    'no',
    'field "len": expected a lower-case 0x hex string, got "1000"',
  ],
  [
    `{"op":"munmap","pid":0,${A},"len":"0X1000"}`,
    'no',
    'field "len": expected a lower-case 0x hex string, got "0X1000"',
  ],
  [
    `{"op":"munmap","pid":0,${A},"len":"0x10G0"}`,
    'no',
    'field "len": expected a lower-case 0x hex string, got "0x10G0"',
  ],
  [
    `{"op":"munmap","pid":0,${A},"len":"0x100A"}`,
    'no',
    'field "len": expected a lower-case 0x hex string, got "0x100A"',
  ],
  [
    `{"op":"munmap","pid":0,${A},"len":"0x10 0"}`,
    'no',
    'field "len": expected a lower-case 0x hex string, got "0x10 0"',
  ],
  [
    `{"op":"munmap","pid":0,${A},"len":"-0x1000"}`,
    'no',
    'field "len": expected a lower-case 0x hex string, got "-0x1000"',
  ],
  [
    `{"op":"munmap","pid":0,${A},"len":4096}`,
    'no',
    'field "len": expected a lower-case 0x hex string, got 4096',
  ],
  [
    `{"op":"munmap","pid":0,${A},"len":"0x1000x"}`,
    'no',
    'field "len": expected a lower-case 0x hex string, got "0x1000x"',
  ],
  [`{"op":"write","pid":2,${A},"data":"0g"}`, 'no', 'field "data": expected lower-case hex bytes'],
  [`{"op":"write","pid":2,${A},"data":"0A"}`, 'no', 'field "data": expected lower-case hex bytes'],
  [`{"op":"write","pid":2,${A},"data":"012"}`, 'no', 'field "data": expected lower-case hex bytes'],
  [`{"op":"write","pid":2,${A},"data":"0x01"}`, 'no', 'field "data": expected lower-case hex bytes'],
  [`{"op":"munmap","pid":00,${A},"len":"0x1000"}`, 'no', 'not valid JSON: column 23'],
  [`{"op":"munmap","pid":-0,${A},"len":"0x1000"}`, 'no'],
  [`{"op":"munmap","pid":1e2,${A},"len":"0x1000"}`, 'no'],
  [`{"op":"munmap","pid":1234567890123456,${A},"len":"0x1000"}`, 'no'],
  [`{"op":"munmap","pid":123456789012345,${A},"len":"0x1000"}`, 'v1'],
  [`{"op":"munmap","pid":"0",${A},"len":"0x1000"}`, 'no', 'field "pid": expected a process id'],
  [`{"op":"munmap","pid":,${A},"len":"0x1000"}`, 'no', 'not valid JSON: column 22'],
  // outside the window, across a page
  [`{"op":"read","pid":0,"addr":"0x100000000ffe","len":"0x2"}`, 'v1'],
  [`{"op":"read","pid":0,"addr":"0x100000000ffe","len":"0x3"}`, 'no', 'read crosses a page boundary'],
  [`{"op":"read","pid":0,"addr":"0x100000000000","len":"0x1001"}`, 'no', 'read crosses a page boundary'],
  [`{"op":"read","pid":0,"addr":"0x100000000000","len":"0x0"}`, 'v1'],
  [
    `{"op":"read","pid":0,"addr":"0x0fffffffffff","len":"0x1"}`,
    'no',
    "address 0xfffffffffff is outside the trace's window",
  ],
  [`{"op":"read","pid":0,"addr":"0x10003ffffffc","len":"0x4"}`, 'v1'],
  [`{"op":"read","pid":0,"addr":"0x10003ffffffd","len":"0x4"}`, 'no', 'read crosses a page boundary'],
  [`{"op":"write","pid":0,"addr":"0x100000000fff","data":"0102"}`, 'no', 'write crosses a page boundary'],
  [`{"op":"write","pid":0,"addr":"0x100040000000","data":""}`, 'v1'],
  [
    `{"op":"mincore","pid":0,"addr":"0x100040000000","len":"0x1000"}`,
    'no',
    'op "mincore" needs an mmtrace v2 header',
    "address 0x100040000000 is outside the trace's window",
  ],
  [
    `{"op":"mincore","pid":0,"addr":"0x100000000001","len":"0x1000"}`,
    'v2',
    'op "mincore" needs an mmtrace v2 header',
    null,
  ],
  [
    `{"op":"mremap","pid":1,${A},"old_len":"0x1000","new_len":"0x2000","flags":["maymove","dontunmap"]}`,
    'no',
    'field "flags": flag "dontunmap" needs an mmtrace v2 header',
    '"dontunmap" needs "new_addr"',
  ],
  [
    `{"op":"mmap","pid":0,${A},"len":"0x2000","prot":"rw-","flags":["private"]}`,
    'no',
    'field "flags": "anonymous" is required without "file" and forbidden with it',
  ],
  [
    `{"op":"mmap","pid":0,${A},"len":"0x2000","prot":"rw-","flags":["anonymous"]}`,
    'no',
    'field "flags": expected exactly one of "private", "shared", "shared_validate"',
  ],
  [
    `{"op":"mmap","pid":0,${A},"len":"0x2000","prot":"rw-"}`,
    'no',
    'field "flags": expected an array of flag names',
  ],
  [
    `{"op":"mmap","pid":0,${A},"len":"0x2000","prot":"rw-","flags":["private","shared","anonymous"]}`,
    'no',
    'field "flags": expected exactly one of "private", "shared", "shared_validate"',
  ],
  [`{"op":"munmap","pid":0,${A}}`, 'no', 'missing field "len"'],
  [
    `{"op":"mprotect","pid":0,${A},"len":"0x1000"}`,
    'no',
    'field "prot": expected three characters like "rw-"',
  ],
];
