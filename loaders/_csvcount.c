/* The records of a CSV file, counted by a pass of its own (not the reader that loads them).

The record rule is defined once, in loaders/csvcount.py (its docstring); this scanner and the Python twin
there (PyCounter) follow it byte for byte, and tests/unit/test_csvcount.py compares them on random bytes.
A Counter is fed the file's bytes in chunks and follows CSV's quoting: a record ends at a line break outside
quotes ("\n", "\r\n" or a lone "\r"); a quote opens a quoted field only at the start of a field; inside
quotes a doubled quote (or the escape character followed by anything) is text. Blank lines are not records.
The first record is the header. For every other record it notes whether its field count differs from the
header's, whether it holds a NUL byte, and whether a quote stands where CSV does not allow one (inside an
unquoted field, or text right after a closing quote). Made with marks=1, it also keeps each record's bounds
(start and end byte, first line, fields, flags) for take(): the tolerant reader reads exactly these records.
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

typedef struct {
    PyObject_HEAD
    int delim, quote, escape, skip_space;
    /* state */
    int in_q, quote_seen, esc_pending, after_close, field_start, has_content, cr, cr_q;
    long long *stray_lines; /* the first line of each record with a stray quote, for the tolerant pass */
    Py_ssize_t n_stray_lines, cap_stray_lines;
    long long fields, rec_line;
    int stray, nul;
    /* totals */
    long long line, records, header_fields, header_lines, bad_fields, nul_records, stray_records;
    long long first_bad_line;
    int header_stray, header_nul;
    /* marks (only when asked for, by the tolerant reader): 5 numbers per record, see csvcount.MARK_FIELDS */
    int marks;
    long long base, rec_start; /* bytes fed before this chunk; where the current record's first byte is */
    long long *mk;
    Py_ssize_t n_mk, cap_mk;
} Counter;

enum { MARK_STRAY = 1, MARK_NUL = 2, MARK_UNTERMINATED = 4, MARK_HEADER = 8 };

static void mark(Counter *s, long long end, int flags) {
    if (s->n_mk + 5 > s->cap_mk) {
        Py_ssize_t cap = s->cap_mk ? 2 * s->cap_mk : 5 * 1024;
        long long *grown = realloc(s->mk, (size_t)cap * sizeof(long long));
        if (!grown) {
            s->marks = -1; /* out of memory: reported by take() */
            return;
        }
        s->mk = grown;
        s->cap_mk = cap;
    }
    long long *m = s->mk + s->n_mk;
    m[0] = s->rec_start;
    m[1] = end;
    m[2] = s->rec_line;
    m[3] = s->fields;
    m[4] = flags | (s->stray ? MARK_STRAY : 0) | (s->nul ? MARK_NUL : 0);
    s->n_mk += 5;
}

/* The record that started at rec_start ends at byte `end` of the stream (its line break, or the end of the
   file); `flags`: MARK_UNTERMINATED when the file ends inside its quotes. */
static void end_record(Counter *s, long long end, int flags) {
    if (s->has_content) {
        if (s->marks > 0) mark(s, end, flags | (s->header_fields < 0 ? MARK_HEADER : 0));
        if (s->header_fields < 0) {
            s->header_fields = s->fields;
            s->header_lines = s->line - s->rec_line + 1;
            s->header_stray = s->stray;
            s->header_nul = s->nul;
        } else {
            s->records++;
            int bad = 0;
            if (s->fields != s->header_fields) {
                s->bad_fields++;
                bad = 1;
            }
            if (s->nul) {
                s->nul_records++;
                bad = 1;
            }
            if (s->stray) {
                s->stray_records++;
                bad = 1;
                if (s->n_stray_lines == s->cap_stray_lines && s->cap_stray_lines < (1 << 24)) {
                    Py_ssize_t cap = s->cap_stray_lines ? 2 * s->cap_stray_lines : 64;
                    long long *grown = realloc(s->stray_lines, (size_t)cap * sizeof(long long));
                    if (grown) {
                        s->stray_lines = grown;
                        s->cap_stray_lines = cap;
                    }
                }
                if (s->n_stray_lines < s->cap_stray_lines) s->stray_lines[s->n_stray_lines++] = s->rec_line;
            }
            if (bad && s->first_bad_line == 0) s->first_bad_line = s->rec_line;
        }
    }
    s->fields = 1;
    s->has_content = 0;
    s->stray = 0;
    s->nul = 0;
    s->after_close = 0;
    s->field_start = 1;
}

static void scan(Counter *s, const unsigned char *p, const unsigned char *end) {
    const unsigned char *const start = p;
#define POS(x) (s->base + (long long)((x) - start))
    const int delim = s->delim, quote = s->quote, escape = s->escape;
    unsigned char plain[256], quoted[256]; /* 1: a byte that changes nothing but "this field has text" */
    memset(plain, 1, sizeof(plain));
    memset(quoted, 1, sizeof(quoted));
    plain['\n'] = plain['\r'] = plain[0] = plain[(unsigned char)delim] = 0;
    if (quote >= 0) plain[(unsigned char)quote] = quoted[(unsigned char)quote] = 0;
    if (escape >= 0) quoted[(unsigned char)escape] = 0;
    if (s->skip_space) plain[' '] = 0;
    quoted['\n'] = quoted['\r'] = quoted[0] = 0;
    while (p < end) {
        if (s->cr_q) { /* inside quotes, a \r\n is one line break, as a lone \r is */
            s->cr_q = 0;
            if (s->in_q && !s->esc_pending && !s->quote_seen && *p == '\n') {
                p++;
                continue;
            }
        }
        if (!s->in_q && !s->cr && (plain[*p] || *p == delim)) {
            /* the common case: runs of ordinary text between delimiters, up to a line break or a quote */
            if (!s->has_content) {
                s->has_content = 1;
                s->rec_line = s->line;
                s->rec_start = POS(p);
            }
            for (;;) {
                const unsigned char *q = p;
                while (q < end && plain[*q]) q++;
                if (q > p) {
                    if (s->after_close) s->stray = 1;
                    s->field_start = 0;
                    p = q;
                }
                if (p < end && *p == delim) {
                    s->fields++;
                    s->field_start = 1;
                    s->after_close = 0;
                    p++;
                    continue;
                }
                break;
            }
            continue;
        }
        if (s->in_q && !s->esc_pending && !s->quote_seen && quoted[*p]) {
            const unsigned char *q = p + 1;
            while (q < end && quoted[*q]) q++;
            p = q;
            continue;
        }
        int c = *p++;
        if (s->in_q) {
            if (s->esc_pending) {
                s->esc_pending = 0;
                if (c == '\n') s->line++;
                if (c == 0) s->nul = 1;
                continue;
            }
            if (s->quote_seen) { /* the byte after a quote inside quotes: a doubled quote, or the close */
                s->quote_seen = 0;
                if (c == quote) continue;
                s->in_q = 0;
                s->after_close = 1;
                /* fall through to the unquoted handling of c */
            } else {
                if (c == quote) {
                    if (escape == quote) {
                        s->quote_seen = 1;
                    } else {
                        s->in_q = 0;
                        s->after_close = 1;
                    }
                } else if (c == escape) {
                    s->esc_pending = 1;
                } else if (c == '\n') {
                    s->line++;
                } else if (c == '\r') {
                    s->line++;
                    s->cr_q = 1;
                } else if (c == 0) {
                    s->nul = 1;
                }
                continue;
            }
        }
        if (c == '\n') {
            if (s->cr) { /* the \n of a \r\n: the record ended at the \r */
                s->cr = 0;
                continue;
            }
            end_record(s, POS(p - 1), 0);
            s->line++;
            s->rec_line = s->line;
            continue;
        }
        s->cr = 0;
        if (c == '\r') {
            end_record(s, POS(p - 1), 0);
            s->line++;
            s->rec_line = s->line;
            s->cr = 1;
            continue;
        }
        if (!s->has_content) {
            s->has_content = 1;
            s->rec_line = s->line;
            s->rec_start = POS(p - 1);
        }
        if (c == delim) {
            s->fields++;
            s->field_start = 1;
            s->after_close = 0;
        } else if (c == quote) {
            if (s->field_start) {
                s->in_q = 1;
                s->field_start = 0;
            } else {
                s->stray = 1;
            }
        } else if (c == ' ' && s->skip_space && s->field_start) {
            /* spaces after the delimiter in a `, ` dialect */
        } else {
            if (c == 0) s->nul = 1;
            if (s->after_close) s->stray = 1;
            s->field_start = 0;
        }
    }
    s->base += (long long)(end - start);
#undef POS
}

static int Counter_init(Counter *s, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"delimiter", "quote", "escape", "skip_space", "marks", NULL};
    int delim = ',', quote = '"', escape = '"', skip_space = 0, marks = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|iiipp", kwlist, &delim, &quote, &escape, &skip_space,
                                     &marks))
        return -1;
    s->marks = marks;
    s->base = s->rec_start = 0;
    free(s->mk);
    s->mk = NULL;
    s->n_mk = s->cap_mk = 0;
    s->delim = delim;
    s->quote = quote;
    s->escape = escape;
    s->skip_space = skip_space;
    s->in_q = s->quote_seen = s->esc_pending = s->after_close = s->has_content = s->cr = s->cr_q = 0;
    free(s->stray_lines);
    s->stray_lines = NULL;
    s->n_stray_lines = s->cap_stray_lines = 0;
    s->stray = s->nul = s->header_stray = s->header_nul = 0;
    s->field_start = 1;
    s->fields = 1;
    s->line = s->rec_line = 1;
    s->records = s->bad_fields = s->nul_records = s->stray_records = s->first_bad_line = 0;
    s->header_fields = -1;
    s->header_lines = 0;
    return 0;
}

static PyObject *Counter_feed(Counter *s, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    Py_BEGIN_ALLOW_THREADS
    scan(s, (const unsigned char *)view.buf, (const unsigned char *)view.buf + view.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

static PyObject *Counter_finish(Counter *s, PyObject *Py_UNUSED(ignored)) {
    int unterminated = s->in_q && !s->quote_seen;
    if (s->quote_seen) { /* a quote closing the last field at the end of the file */
        s->quote_seen = 0;
        s->in_q = 0;
    }
    s->in_q = 0;
    end_record(s, s->base, unterminated ? MARK_UNTERMINATED : 0);
    PyObject *lines = PyBytes_FromStringAndSize((const char *)s->stray_lines,
                                                (Py_ssize_t)(s->n_stray_lines * sizeof(long long)));
    if (!lines) return NULL;
    return Py_BuildValue(
        "{s:L,s:L,s:L,s:L,s:L,s:L,s:L,s:i,s:i,s:i,s:L,s:N}", "records", s->records, "header_fields",
        s->header_fields, "header_lines", s->header_lines, "bad_fields", s->bad_fields, "nul_records",
        s->nul_records, "stray_records", s->stray_records, "lines", s->line, "unterminated", unterminated,
        "header_stray", s->header_stray, "header_nul", s->header_nul, "first_bad_line", s->first_bad_line,
        "stray_lines", lines);
}

static PyObject *Counter_take(Counter *s, PyObject *Py_UNUSED(ignored)) {
    if (s->marks < 0) return PyErr_NoMemory();
    PyObject *out = PyBytes_FromStringAndSize((const char *)s->mk, (Py_ssize_t)(s->n_mk * sizeof(long long)));
    s->n_mk = 0;
    return out;
}

static void Counter_dealloc(Counter *s) {
    free(s->mk);
    free(s->stray_lines);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyMethodDef Counter_methods[] = {
    {"feed", (PyCFunction)Counter_feed, METH_O, "Count the records of the next chunk of the file."},
    {"finish", (PyCFunction)Counter_finish, METH_NOARGS, "The counts, as a dict (see csvcount.Counts)."},
    {"take", (PyCFunction)Counter_take, METH_NOARGS,
     "The marks of the records ended since the last take (marks=True), as bytes of int64."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject CounterType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "loaders._csvcount.Counter",
    .tp_basicsize = sizeof(Counter),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Counts the records of a CSV file fed to it in chunks, following its quoting.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Counter_init,
    .tp_dealloc = (destructor)Counter_dealloc,
    .tp_methods = Counter_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_csvcount", "Quote-aware record counts of CSV files.", -1, NULL,
};

PyMODINIT_FUNC PyInit__csvcount(void) {
    if (PyType_Ready(&CounterType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&CounterType);
    if (PyModule_AddObject(m, "Counter", (PyObject *)&CounterType) < 0) {
        Py_DECREF(&CounterType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
