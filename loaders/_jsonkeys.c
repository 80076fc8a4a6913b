/*
 * The top-level keys of newline-delimited JSON, without parsing the values.
 *
 * The loader must know every top-level key of a JSON batch before it reads it (a key first seen on the
 * last line still gets its column). DuckDB can list them (json_keys over every line), but that parses each
 * record into a document a second time; this scanner only follows the structure (strings, nesting, the
 * commas and colons of the top level) and keeps each distinct key once, at a fraction of the cost.
 *
 * It accepts one JSON object per line (blank lines allowed) and refuses anything else with ValueError, so
 * the caller falls back to DuckDB's general pass for arrays, pretty-printed records and the like. It does
 * not validate the JSON: the reader that loads the rows does, and a malformed file fails there.
 * Keys are returned as the raw bytes between the quotes (escapes intact), in first-seen order.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define MAX_KEYS 100000     /* more distinct top-level keys than this is not a table: refuse */
#define MAX_KEY_BYTES 65536 /* a longer key is not a column name: refuse */

typedef struct {
    PyObject_HEAD
    int64_t line; /* lines scanned so far, for the error message */
    /* distinct keys: an open-addressing table of indexes into `offsets`, and the keys' bytes */
    uint32_t *slots;
    size_t slot_cap;
    size_t *offsets; /* start of key i in `arena`; offsets[n] is the end */
    size_t n_keys, offsets_cap, hashes_cap;
    char *arena;
    size_t arena_len, arena_cap;
    uint64_t *hashes;
    const char *error; /* set when the input is refused */
    /* the previous record's keys by position: records of one file mostly repeat them, which spares the
     * hash and lookup */
    uint32_t recent[64];
} Scanner;

static uint64_t hash_bytes(const char *p, size_t n) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static int grow(void **buf, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t cap2 = *cap ? *cap : 64;
    while (cap2 < need) cap2 *= 2;
    void *p = realloc(*buf, cap2 * elem);
    if (!p) return -1;
    *buf = p;
    *cap = cap2;
    return 0;
}

static int rehash(Scanner *s, size_t cap) {
    uint32_t *slots = malloc(cap * sizeof(uint32_t));
    if (!slots) return -1;
    memset(slots, 0xff, cap * sizeof(uint32_t));
    for (size_t i = 0; i < s->n_keys; i++) {
        size_t j = s->hashes[i] & (cap - 1);
        while (slots[j] != UINT32_MAX) j = (j + 1) & (cap - 1);
        slots[j] = (uint32_t)i;
    }
    free(s->slots);
    s->slots = slots;
    s->slot_cap = cap;
    return 0;
}

/* Whether key `index` is these n bytes (keys are short: a plain loop beats a call to memcmp). */
static inline int same_key(const Scanner *s, uint32_t index, const char *p, size_t n) {
    const char *k = s->arena + s->offsets[index];
    if (s->offsets[index + 1] - s->offsets[index] != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (k[i] != p[i]) return 0;
    return 1;
}

/* Keep this key if it is new; *index is its number. Returns -1 on failure (s->error set). */
static int add_key(Scanner *s, const char *key, size_t n, uint32_t *index) {
    uint64_t h = hash_bytes(key, n);
    size_t j = h & (s->slot_cap - 1);
    while (s->slots[j] != UINT32_MAX) {
        size_t i = s->slots[j];
        if (s->hashes[i] == h && same_key(s, (uint32_t)i, key, n)) {
            *index = (uint32_t)i;
            return 0;
        }
        j = (j + 1) & (s->slot_cap - 1);
    }
    if (s->n_keys >= MAX_KEYS) {
        s->error = "more than 100000 distinct top-level keys";
        return -1;
    }
    if (grow((void **)&s->arena, &s->arena_cap, s->arena_len + n, 1) ||
        grow((void **)&s->offsets, &s->offsets_cap, s->n_keys + 2, sizeof(size_t)) ||
        grow((void **)&s->hashes, &s->hashes_cap, s->n_keys + 2, sizeof(uint64_t))) {
        s->error = "out of memory";
        return -1;
    }
    memcpy(s->arena + s->arena_len, key, n);
    s->offsets[s->n_keys] = s->arena_len;
    s->arena_len += n;
    s->hashes[s->n_keys] = h;
    s->slots[j] = (uint32_t)s->n_keys;
    *index = (uint32_t)s->n_keys;
    s->n_keys++;
    s->offsets[s->n_keys] = s->arena_len;
    if (s->n_keys * 2 > s->slot_cap && rehash(s, s->slot_cap * 2)) {
        s->error = "out of memory";
        return -1;
    }
    return 0;
}

/* The next quote or backslash at or after p, or end. */
static inline const char *string_stop(const char *p, const char *end) {
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
    while (end - p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)p);
        int m = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, backslash)));
        if (m) return p + __builtin_ctz((unsigned)m);
        p += 16;
    }
#endif
    while (p < end && *p != '"' && *p != '\\') p++;
    return p;
}

/* The closing quote of the string whose content starts at p (escapes stepped over), or NULL if the string
 * does not end before `end`. */
static inline const char *string_end(const char *p, const char *end) {
    for (;;) {
        const char *q = string_stop(p, end);
        if (q >= end) return NULL;
        if (*q == '"') return q;
        p = q + 2; /* a backslash escapes the next byte */
    }
}

#define REFUSE(msg)          \
    do {                     \
        s->error = msg;      \
        s->line = line;      \
        return -1;           \
    } while (0)

/* Scan whole lines (the caller cuts chunks after a newline). Runs without the GIL. -1 on refusal. */
static int scan(Scanner *s, const char *p, const char *end) {
    int64_t depth = 0, line = s->line;
    int expect_key = 0;
    unsigned position = 0; /* of the next key in its record */
    while (p < end) {
        char c = *p++;
        switch (c) {
        case '"': {
            const char *q = string_end(p, end);
            if (!q) REFUSE("a string that does not end on its line");
            if (depth == 1 && expect_key) {
                size_t n = q - p;
                expect_key = 0;
                if (n > MAX_KEY_BYTES) REFUSE("a top-level key longer than 64 KiB");
                uint32_t *recent = position < 64 ? &s->recent[position] : NULL;
                if (!recent || *recent == UINT32_MAX || !same_key(s, *recent, p, n)) {
                    uint32_t index;
                    if (add_key(s, p, n, &index)) {
                        s->line = line;
                        return -1;
                    }
                    if (recent) *recent = index;
                }
                position++;
            } else if (depth == 0) {
                REFUSE("a line that is not a JSON object");
            }
            p = q + 1;
            break;
        }
        case '{':
            if (++depth == 1) {
                expect_key = 1;
                position = 0;
            }
            break;
        case '[':
            if (depth == 0) REFUSE("a line that is not a JSON object");
            depth++;
            break;
        case '}':
        case ']':
            if (depth == 0) REFUSE("a closing bracket outside any record");
            depth--;
            break;
        case ',':
            if (depth == 1) expect_key = 1;
            break;
        case '\n':
            if (depth != 0) REFUSE("a record spanning lines");
            line++;
            break;
        case ' ':
        case '\t':
        case '\r':
            break;
        default:
            if (depth == 0) REFUSE("a line that is not a JSON object");
        }
    }
    s->line = line;
    if (depth != 0) REFUSE("a record that is not closed at the end of its line");
    return 0;
}

static int Scanner_init(Scanner *s, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "", kwlist)) return -1;
    s->line = 1;
    memset(s->recent, 0xff, sizeof(s->recent));
    s->n_keys = 0;
    s->arena_len = 0;
    s->error = NULL;
    if (rehash(s, 256)) {
        PyErr_NoMemory();
        return -1;
    }
    if (grow((void **)&s->offsets, &s->offsets_cap, 2, sizeof(size_t)) ||
        grow((void **)&s->hashes, &s->hashes_cap, 2, sizeof(uint64_t))) {
        PyErr_NoMemory();
        return -1;
    }
    s->offsets[0] = 0;
    return 0;
}

static void Scanner_dealloc(Scanner *s) {
    free(s->slots);
    free(s->offsets);
    free(s->hashes);
    free(s->arena);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyObject *Scanner_feed(Scanner *s, PyObject *arg) {
    Py_buffer view;
    if (!s->slots) {
        PyErr_SetString(PyExc_RuntimeError, "Scanner.__init__ was not called");
        return NULL;
    }
    if (s->error) {
        PyErr_SetString(PyExc_ValueError, s->error);
        return NULL;
    }
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = scan(s, (const char *)view.buf, (const char *)view.buf + view.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (rc) {
        PyErr_Format(PyExc_ValueError, "line %lld: %s", (long long)s->line, s->error);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *Scanner_finish(Scanner *s, PyObject *Py_UNUSED(ignored)) {
    if (s->error) {
        PyErr_SetString(PyExc_ValueError, s->error);
        return NULL;
    }
    PyObject *out = PyList_New((Py_ssize_t)s->n_keys);
    if (!out) return NULL;
    for (size_t i = 0; i < s->n_keys; i++) {
        PyObject *k = PyBytes_FromStringAndSize(s->arena + s->offsets[i], s->offsets[i + 1] - s->offsets[i]);
        if (!k) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, (Py_ssize_t)i, k);
    }
    return out;
}

static PyMethodDef Scanner_methods[] = {
    {"feed", (PyCFunction)Scanner_feed, METH_O,
     "Scan the next chunk of the file (any bytes-like object). ValueError if the text is not one JSON "
     "object per line."},
    {"finish", (PyCFunction)Scanner_finish, METH_NOARGS,
     "The distinct top-level keys, as raw bytes (escapes intact), in first-seen order."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ScannerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "loaders._jsonkeys.Scanner",
    .tp_basicsize = sizeof(Scanner),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Collects the distinct top-level keys of newline-delimited JSON fed to it in chunks.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Scanner_init,
    .tp_dealloc = (destructor)Scanner_dealloc,
    .tp_methods = Scanner_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_jsonkeys", "Top-level keys of newline-delimited JSON.", -1, NULL,
};

PyMODINIT_FUNC PyInit__jsonkeys(void) {
    if (PyType_Ready(&ScannerType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&ScannerType);
    if (PyModule_AddObject(m, "Scanner", (PyObject *)&ScannerType) < 0) {
        Py_DECREF(&ScannerType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
