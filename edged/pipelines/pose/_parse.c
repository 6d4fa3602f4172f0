/*
 * Compiled trt_pose parse: confidence maps + PAFs -> grouped keypoints, bit for bit the same as
 * edged's numpy parse (edged/pipelines/pose/parse.py), which itself matches trt_pose's C++.
 *
 * Why C: the numpy parse costs several times trt_pose's C++ on ordinary frames (most of it
 * interpreter and numpy call overhead in the Munkres replay), and on a Jetson the parse would
 * otherwise take longer than the engine. This file is the same five stages in plain loops:
 *
 *   1. find peaks      local maxima over a clipped square window, raster order, at most M each;
 *   2. refine peaks    cmap-weighted mean over the window (weights from reflected cells,
 *                      positions unreflected), sums sequential in float32;
 *   3. PAF scores      line integral of every candidate pair of every link, float32 in the
 *                      C++ operation order (epsilon added in double);
 *   4. assignment      per link, trt_pose's Munkres (same reductions, greedy starring,
 *                      row-major priming pass that continues after covering a row, cost
 *                      update rows-then-columns), so ties go the same way;
 *   5. connect parts   trt_pose's breadth-first walk, objects in scan order.
 *
 * Where trt_pose's C++ is undefined, this follows the numpy parse's deterministic choice:
 * non-finite scores (possible from finite but huge inputs) are solved as 0 and never
 * connected; a window wider than the map reads its edge cells; a sample position that is NaN
 * counts as outside. NaN or infinite cmap/paf values are refused with ValueError, and a
 * Munkres problem whose cost update would not be finite (only reachable with PAF values near
 * FLT_MAX, where costs overflow) stops with the stars it has, instead of looping forever as
 * the C++ does; the numpy parse stops at the same point.
 *
 * Build with -ffp-contract=off: a fused multiply-add (GCC's default on aarch64) rounds once
 * where numpy rounds twice, and the results would differ in the last bit.
 *
 * Interface (called by edged/pipelines/pose/compiled.py, which allocates the outputs):
 *   parse(cmap, paf, topology, cmap_threshold, link_threshold, cmap_window,
 *         line_integral_samples, object_counts, objects, normalized_peaks[, timings])
 * cmap float32 [N, C, H, W], paf float32 [N, F, H, W], topology int32 [K, 4] (all C-contiguous,
 * read through the buffer protocol); outputs int32 [N], int32 [N, P, C], float32 [N, C, M, 2],
 * writable and C-contiguous, fully overwritten. M and P are taken from the output shapes.
 * The GIL is released while the frames are parsed. The topology is copied (and checked) while
 * the GIL is held, so nothing the caller or another thread writes to its array meanwhile can
 * reach the stages, which index with it; an output whose memory overlaps another argument's
 * is refused. `timings`, a float64 [5] buffer, receives
 * the seconds spent in each stage (added to it), for bench/pose_parse.py.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------------------------------ */
/* One call's geometry and parameters, and per-call scratch memory.                           */

typedef struct {
    Py_ssize_t n, c, h, w, f, k, m, p;
    float cmap_threshold, link_threshold;
    int radius, samples;
    const float *cmap, *paf;
    const int32_t *topology; /* the job's own copy, checked, never the caller's array */
    int32_t *object_counts, *objects;
    float *normalized;
    double *timings; /* NULL, or seconds per stage, added to (5 entries) */
} Job;

typedef struct {
    /* flat peak list (part-major), at most c * min(m, h * w) entries */
    int *counts, *first, *row, *col;
    float *refined_y, *refined_x; /* normalised, as returned */
    float *map_y, *map_x;         /* times H and W: the score stage's positions */
    unsigned char *inside;        /* both within [0, H - 1] x [0, W - 1] */
    float *progress;              /* samples */
    /* all links' scores, packed (link k from score_start[k]), grown as needed; one link's
     * Munkres state (at most cap * cap / cap entries) */
    float *scores, *cost;
    size_t scores_size;
    size_t *score_start;
    int *row_star, *col_star, *prime;
    unsigned char *row_cover;
    float *penalty, *sub; /* per padded column */
    /* accepted connections: conn[(k * 2 + side) * cap + i], and the walk */
    int *conn, *queue;
    unsigned char *seen;
    unsigned char *row_hit; /* c * h: does the cmap row hold a value >= the threshold? */
} Scratch;

enum { OK = 0, NO_MEMORY = 1, NOT_FINITE = 2 };

/* Munkres rows are padded to a multiple of BLOCK columns (see Problem). */
enum { BLOCK = 8 };

static int padded(int n)
{
    return (n + BLOCK - 1) / BLOCK * BLOCK;
}

static void scratch_free(Scratch *s)
{
    void **fields[] = {
        (void **)&s->counts,    (void **)&s->first,     (void **)&s->row,
        (void **)&s->col,       (void **)&s->refined_y, (void **)&s->refined_x,
        (void **)&s->map_y,     (void **)&s->map_x,     (void **)&s->inside,     (void **)&s->progress,
        (void **)&s->scores,    (void **)&s->cost,      (void **)&s->row_star,
        (void **)&s->col_star,  (void **)&s->prime,     (void **)&s->row_cover,
        (void **)&s->penalty,   (void **)&s->sub,       (void **)&s->conn,      (void **)&s->queue,
        (void **)&s->seen,      (void **)&s->score_start, (void **)&s->row_hit,
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        free(*fields[i]);
        *fields[i] = NULL;
    }
}

/* Allocate everything up front (sizes bounded by the shapes), so the stages cannot fail. */
static int scratch_alloc(Scratch *s, const Job *j)
{
    size_t cap = (size_t)(j->m < j->h * j->w ? j->m : j->h * j->w); /* peaks per part */
    size_t peaks = (size_t)j->c * cap;
    size_t nodes = peaks ? peaks : 1;
    size_t cells = cap ? cap * cap : 1;
    size_t lines = cap ? cap : 1;
    memset(s, 0, sizeof(*s));
    s->counts = malloc(sizeof(int) * ((size_t)j->c + 1));
    s->first = malloc(sizeof(int) * ((size_t)j->c + 1));
    s->row = malloc(sizeof(int) * nodes);
    s->col = malloc(sizeof(int) * nodes);
    s->refined_y = malloc(sizeof(float) * nodes);
    s->refined_x = malloc(sizeof(float) * nodes);
    s->map_y = malloc(sizeof(float) * nodes);
    s->map_x = malloc(sizeof(float) * nodes);
    s->inside = malloc(nodes);
    s->progress = malloc(sizeof(float) * (size_t)j->samples);
    s->scores = malloc(sizeof(float) * cells);
    s->scores_size = cells;
    s->score_start = malloc(sizeof(size_t) * ((size_t)j->k + 1));
    s->cost = malloc(sizeof(float) * (cap ? cap * (size_t)padded((int)cap) : 1));
    s->row_star = malloc(sizeof(int) * lines);
    s->col_star = malloc(sizeof(int) * lines);
    s->prime = malloc(sizeof(int) * lines);
    s->row_cover = malloc(lines);
    s->penalty = malloc(sizeof(float) * (size_t)padded((int)lines));
    s->sub = malloc(sizeof(float) * (size_t)padded((int)lines));
    s->conn = malloc(sizeof(int) * ((size_t)j->k * 2 * lines + 1));
    s->queue = malloc(sizeof(int) * nodes);
    s->seen = malloc(nodes);
    s->row_hit = malloc((size_t)(j->c * j->h) + 1);
    if (!s->counts || !s->first || !s->row || !s->col || !s->refined_y || !s->refined_x ||
        !s->map_y || !s->map_x || !s->inside || !s->progress || !s->scores || !s->cost || !s->row_star ||
        !s->col_star || !s->prime || !s->row_cover || !s->penalty || !s->sub || !s->conn || !s->queue ||
        !s->seen || !s->score_start || !s->row_hit) {
        scratch_free(s);
        return NO_MEMORY;
    }
    return OK;
}

/* ------------------------------------------------------------------------------------------ */
/* 1. Peaks                                                                                    */

/* Non-finite float? Tested on the exponent bits, which vectorises and does not depend on
 * NaN comparisons. */
static inline uint32_t non_finite(float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof(bits)); /* no aliasing a float as an integer */
    return (uint32_t)((bits & 0x7f800000u) == 0x7f800000u);
}

/* The whole paf is checked on every call (~130k floats for a 56 x 56 human-pose model), a
 * quarter of an ordinary frame's parse: 8-float vectors, two accumulators, and on x86_64 an
 * AVX2 clone picked at load time where the CPU has it (GCC's target_clones). */
typedef int32_t v8i __attribute__((vector_size(32)));

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 6
__attribute__((target_clones("avx2", "default")))
#endif
static int all_finite(const float *data, Py_ssize_t size)
{
    const v8i exponent = {0x7f800000, 0x7f800000, 0x7f800000, 0x7f800000,
                          0x7f800000, 0x7f800000, 0x7f800000, 0x7f800000};
    v8i bad0 = {0, 0, 0, 0, 0, 0, 0, 0}, bad1 = bad0;
    Py_ssize_t q = 0;
    for (; q + 16 <= size; q += 16) {
        v8i a, b;
        memcpy(&a, data + q, sizeof(a));
        memcpy(&b, data + q + 8, sizeof(b));
        bad0 |= (a & exponent) == exponent;
        bad1 |= (b & exponent) == exponent;
    }
    bad0 |= bad1;
    uint32_t bad = 0;
    for (int k = 0; k < 8; k++)
        bad |= (uint32_t)bad0[k];
    for (; q < size; q++)
        bad |= non_finite(data[q]);
    return !bad;
}

/* One vectorised pass over a frame's cmap: checks that it is finite and marks the rows that
 * hold a value >= the threshold, so the peak scan (scalar, with its window test) skips the
 * rest; most rows of most channels are background. */
static int scan_rows(const Job *j, const float *cmap, unsigned char *row_hit)
{
    uint32_t bad = 0;
    for (Py_ssize_t r = 0; r < j->c * j->h; r++) {
        const float *line = cmap + r * j->w;
        uint32_t hit = 0;
        for (Py_ssize_t x = 0; x < j->w; x++) {
            bad |= non_finite(line[x]);
            hit |= (uint32_t)(line[x] >= j->cmap_threshold);
        }
        row_hit[r] = (unsigned char)hit;
    }
    return !bad;
}

/* No cell of the window (clipped at the border) is larger than the centre. The four
 * neighbours are tried first: on the slope of a blob one of them is larger, which settles
 * most candidates in a comparison or two (the order cannot change the answer). */
static int is_peak(const float *map, Py_ssize_t h, Py_ssize_t w, Py_ssize_t i, Py_ssize_t jj,
                   int r, float val)
{
    const float *centre = map + i * w + jj;
    if (r >= 1 && ((jj + 1 < w && centre[1] > val) || (jj > 0 && centre[-1] > val) ||
                   (i + 1 < h && centre[w] > val) || (i > 0 && centre[-w] > val)))
        return 0;
    Py_ssize_t i0 = i - r > 0 ? i - r : 0, i1 = i + r + 1 < h ? i + r + 1 : h;
    Py_ssize_t j0 = jj - r > 0 ? jj - r : 0, j1 = jj + r + 1 < w ? jj + r + 1 : w;
    for (Py_ssize_t y = i0; y < i1; y++) {
        const float *line = map + y * w;
        for (Py_ssize_t x = j0; x < j1; x++)
            if (line[x] > val)
                return 0;
    }
    return 1;
}

/* Peaks of every channel into the flat list; returns the total. */
static int find_peaks(const Job *j, const float *cmap, Scratch *s)
{
    int total = 0;
    for (Py_ssize_t c = 0; c < j->c; c++) {
        const float *map = cmap + c * j->h * j->w;
        int count = 0;
        s->first[c] = total;
        for (Py_ssize_t i = 0; i < j->h && count < j->m; i++) {
            if (!s->row_hit[c * j->h + i])
                continue;
            for (Py_ssize_t x = 0; x < j->w && count < j->m; x++) {
                float val = map[i * j->w + x];
                if (!(val >= j->cmap_threshold))
                    continue;
                if (!is_peak(map, j->h, j->w, i, x, j->radius, val))
                    continue;
                s->row[total] = (int)i;
                s->col[total] = (int)x;
                total++;
                count++;
            }
        }
        s->counts[c] = count;
    }
    s->first[j->c] = total;
    return total;
}

/* trt_pose's border reflection, then clipped (only a window wider than the map needs it). */
static Py_ssize_t reflect(Py_ssize_t idx, Py_ssize_t size)
{
    if (idx < 0)
        idx = -idx;
    if (idx >= size)
        idx = 2 * size - 2 - idx;
    if (idx < 0)
        idx = 0;
    if (idx > size - 1)
        idx = size - 1;
    return idx;
}

/* Weighted mean position over the window; sums start from the first term, as numpy's do. */
static void refine_one(const Job *j, const float *map, int pi, int pj, float *out_y,
                       float *out_x)
{
    float ws = 0.0f, ys = 0.0f, xs = 0.0f;
    int started = 0;
    for (Py_ssize_t y = pi - j->radius; y <= pi + j->radius; y++) {
        const float *line = map + reflect(y, j->h) * j->w;
        for (Py_ssize_t x = pj - j->radius; x <= pj + j->radius; x++) {
            float weight = line[reflect(x, j->w)];
            float wy = weight * (float)y, wx = weight * (float)x;
            if (started) {
                ws += weight;
                ys += wy;
                xs += wx;
            } else {
                ws = weight;
                ys = wy;
                xs = wx;
                started = 1;
            }
        }
    }
    float ry = ys / ws, rx = xs / ws;
    ry += 0.5f;
    rx += 0.5f;
    *out_y = ry / (float)j->h;
    *out_x = rx / (float)j->w;
}

static void refine_peaks(const Job *j, const float *cmap, Scratch *s, float *normalized)
{
    for (Py_ssize_t c = 0; c < j->c; c++) {
        const float *map = cmap + c * j->h * j->w;
        for (int q = s->first[c]; q < s->first[c + 1]; q++) {
            float y, x;
            refine_one(j, map, s->row[q], s->col[q], &y, &x);
            s->refined_y[q] = y;
            s->refined_x[q] = x;
            s->map_y[q] = y * (float)j->h;
            s->map_x[q] = x * (float)j->w;
            /* false for NaN; maps over 2^20 cells a side always take the checked path */
            s->inside[q] = j->h <= (1 << 20) && j->w <= (1 << 20) && s->map_y[q] >= 0.0f &&
                           s->map_y[q] <= (float)(j->h - 1) && s->map_x[q] >= 0.0f &&
                           s->map_x[q] <= (float)(j->w - 1);
            float *slot = normalized + (c * j->m + (q - s->first[c])) * 2;
            slot[0] = y;
            slot[1] = x;
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* 3. PAF line integrals                                                                       */

/* (int) of a sample position, clamped first to [-1, size] so the cast stays defined; NaN
 * gives -1 (outside), as numpy's fmax does. Comparisons rather than fmaxf/fminf, which GCC
 * only inlines under -ffast-math. */
static inline int cell_index(float p, Py_ssize_t size)
{
    float clamped = p > -1.0f ? p : -1.0f;
    clamped = clamped < (float)size ? clamped : (float)size;
    return (int)clamped;
}

static float line_integral(const Job *j, const Scratch *s, const float *paf_y,
                           const float *paf_x, int qa, int qb)
{
    float ay = s->map_y[qa], ax = s->map_x[qa];
    float dy = s->map_y[qb] - ay, dx = s->map_x[qb] - ax;
    float norm = (float)((double)sqrtf(dy * dy + dx * dx) + 1e-5);
    float uy = dy / norm, ux = dx / norm;
    float sum = 0.0f;
    if (s->inside[qa] && s->inside[qb] && j->samples > 1) {
        /* both ends in [0, size - 1]: every sample truncates to a cell of the map (rounding
         * moves it by far less than a cell), exactly as the checked path below would. (One
         * sample has a NaN progress, 0 / 0, and goes the checked way.) */
        for (int t = 0; t < j->samples; t++) {
            int iy = (int)(ay + s->progress[t] * dy), ix = (int)(ax + s->progress[t] * dx);
            Py_ssize_t cell = (Py_ssize_t)iy * j->w + ix;
            float dot = paf_y[cell] * uy;
            dot += paf_x[cell] * ux;
            sum = t ? sum + dot : dot;
        }
        return sum / (float)j->samples;
    }
    for (int t = 0; t < j->samples; t++) {
        float py = ay + s->progress[t] * dy;
        float px = ax + s->progress[t] * dx;
        int iy = cell_index(py, j->h), ix = cell_index(px, j->w);
        float dot = 0.0f;
        if (iy >= 0 && iy < j->h && ix >= 0 && ix < j->w) {
            Py_ssize_t cell = (Py_ssize_t)iy * j->w + ix;
            dot = paf_y[cell] * uy;
            dot += paf_x[cell] * ux;
        }
        sum = t ? sum + dot : dot;
    }
    return sum / (float)j->samples;
}

/* Scores of link k as a row-major [count_a, count_b] block at out. */
static void link_scores(const Job *j, const float *paf, const int32_t *tk, const Scratch *s,
                        float *out)
{
    const float *paf_y = paf + (Py_ssize_t)tk[0] * j->h * j->w;
    const float *paf_x = paf + (Py_ssize_t)tk[1] * j->h * j->w;
    int na = s->counts[tk[2]], nb = s->counts[tk[3]];
    int fa = s->first[tk[2]], fb = s->first[tk[3]];
    for (int a = 0; a < na; a++)
        for (int b = 0; b < nb; b++)
            out[a * nb + b] = line_integral(j, s, paf_y, paf_x, fa + a, fb + b);
}

/* All links' scores, packed in link order (the buffer grows to the frame's pair count). */
static int score_graph(const Job *j, const float *paf, Scratch *s)
{
    size_t total = 0;
    for (Py_ssize_t k = 0; k < j->k; k++) {
        const int32_t *tk = j->topology + k * 4;
        s->score_start[k] = total;
        total += (size_t)s->counts[tk[2]] * (size_t)s->counts[tk[3]];
    }
    s->score_start[j->k] = total;
    if (total > s->scores_size) {
        float *grown = realloc(s->scores, sizeof(float) * total);
        if (!grown)
            return NO_MEMORY;
        s->scores = grown;
        s->scores_size = total;
    }
    for (Py_ssize_t k = 0; k < j->k; k++)
        link_scores(j, paf, j->topology + k * 4, s, s->scores + s->score_start[k]);
    return OK;
}

/* ------------------------------------------------------------------------------------------ */
/* 4. Munkres, as trt_pose's munkres.cpp steps                                                 */

/* One problem. Rows are `stride` floats apart (a multiple of BLOCK), the padding columns +inf.
 * `penalty[x]` is 0 for an uncovered column and +inf for a covered or padding one, so that
 * "uncovered zero" is `cost + penalty == 0` and "smallest uncovered cost" a plain minimum of
 * `cost + penalty`: loops without branches that the compiler vectorises. Adding 0 leaves a
 * finite cost as it is (up to the sign of a zero, which no step can see). */
typedef struct {
    float *cost, *penalty, *sub;
    int nr, nc, stride;
    int *row_star, *col_star, *prime;
    unsigned char *row_cover;
} Problem;

static void cover_col(Problem *p, int x, int covered)
{
    p->penalty[x] = covered ? INFINITY : 0.0f;
}

/* The initial reductions. A line whose minimum is infinite (costs that overflowed in the
 * row reduction) is left as it is, as in the numpy parse, instead of turning into NaN. */
static void reduce_rows(Problem *p)
{
    for (int i = 0; i < p->nr; i++) {
        float *line = p->cost + (size_t)i * p->stride, low = line[0];
        for (int x = 1; x < p->nc; x++)
            if (line[x] < low)
                low = line[x];
        if (isinf(low))
            continue;
        for (int x = 0; x < p->nc; x++)
            line[x] -= low;
    }
}

static void reduce_cols(Problem *p)
{
    for (int x = 0; x < p->nc; x++) {
        float low = p->cost[x];
        for (int i = 1; i < p->nr; i++)
            if (p->cost[(size_t)i * p->stride + x] < low)
                low = p->cost[(size_t)i * p->stride + x];
        if (isinf(low))
            continue;
        for (int i = 0; i < p->nr; i++)
            p->cost[(size_t)i * p->stride + x] -= low;
    }
}

/* Step 1: star each zero, row-major, whose row and column hold no star yet. */
static void star_greedily(Problem *p)
{
    for (int x = 0; x < p->nc; x++)
        p->col_star[x] = -1;
    for (int i = 0; i < p->nr; i++) {
        const float *line = p->cost + (size_t)i * p->stride;
        p->row_star[i] = -1;
        for (int x = 0; x < p->nc; x++) {
            if (line[x] == 0 && p->col_star[x] < 0) {
                p->row_star[i] = x;
                p->col_star[x] = i;
                break;
            }
        }
    }
}

/* Step 2: cover the starred columns, uncover the rows; true when the stars are enough. */
static int cover_stars(Problem *p)
{
    int count = 0, need = p->nr < p->nc ? p->nr : p->nc;
    for (int x = 0; x < p->nc; x++) {
        cover_col(p, x, p->col_star[x] >= 0);
        count += p->col_star[x] >= 0;
    }
    memset(p->row_cover, 0, (size_t)p->nr);
    return count >= need;
}

/* 4-float vectors (GCC/clang vector extensions: SSE2 on x86_64, NEON on aarch64), for the
 * two scans that run after every cost update; plain loops there stay scalar, because a float
 * comparison or minimum is only vectorised under -ffast-math. */
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

static inline v4f load4(const float *at)
{
    v4f v;
    memcpy(&v, at, sizeof(v));
    return v;
}

static inline int any4(v4i mask)
{
    uint64_t lo, hi;
    memcpy(&lo, &mask, sizeof(lo));
    memcpy(&hi, (const char *)&mask + sizeof(lo), sizeof(hi));
    return (lo | hi) != 0;
}

/* First uncovered zero of a row, or -1: BLOCK columns tested at once. */
static int first_uncovered_zero(const float *line, const float *penalty, int stride)
{
    const v4f zero = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int x0 = 0; x0 < stride; x0 += BLOCK) {
        v4i hit = (load4(line + x0) + load4(penalty + x0)) == zero;
        hit |= (load4(line + x0 + 4) + load4(penalty + x0 + 4)) == zero;
        if (!any4(hit))
            continue;
        for (int k = 0; k < BLOCK; k++)
            if (line[x0 + k] + penalty[x0 + k] == 0.0f)
                return x0 + k;
    }
    return -1;
}

/* Step 3: one row-major priming pass. In a row the column covers are fixed, so its prime is
 * its first uncovered zero; covering the row ends it, and the pass goes on below (zeros it
 * uncovered above wait for the next pass, as in the C++). Returns the row of a prime in a
 * star-free row, or -1. */
static int prime_pass(Problem *p)
{
    for (int i = 0; i < p->nr; i++) {
        if (p->row_cover[i])
            continue;
        int x = first_uncovered_zero(p->cost + (size_t)i * p->stride, p->penalty, p->stride);
        if (x < 0)
            continue;
        p->prime[i] = x;
        if (p->row_star[i] < 0)
            return i;
        p->row_cover[i] = 1;
        cover_col(p, p->row_star[i], 0);
    }
    return -1;
}

/* Step 4: flip the alternating prime/star path that starts at the prime in row i. */
static void augment(Problem *p, int i)
{
    int x = p->prime[i];
    while (p->col_star[x] >= 0) {
        int s = p->col_star[x];
        p->row_star[s] = -1;
        p->row_star[i] = x;
        p->col_star[x] = i;
        i = s;
        x = p->prime[s];
    }
    p->row_star[i] = x;
    p->col_star[x] = i;
}

static inline v4f min4(v4f a, v4f b)
{
    v4i less = a < b;
    return (v4f)(((v4i)a & less) | ((v4i)b & ~less));
}

/* Kept as running minima per vector lane; costs are never NaN, so the order in which the
 * minimum is taken cannot change its value. */
static float smallest_uncovered(const Problem *p)
{
    v4f low0 = {INFINITY, INFINITY, INFINITY, INFINITY}, low1 = low0;
    for (int i = 0; i < p->nr; i++) {
        if (p->row_cover[i])
            continue;
        const float *line = p->cost + (size_t)i * p->stride;
        for (int x0 = 0; x0 < p->stride; x0 += BLOCK) {
            low0 = min4(load4(line + x0) + load4(p->penalty + x0), low0);
            low1 = min4(load4(line + x0 + 4) + load4(p->penalty + x0 + 4), low1);
        }
    }
    low0 = min4(low0, low1);
    float low = low0[0];
    for (int k = 1; k < 4; k++)
        low = low0[k] < low ? low0[k] : low;
    return low;
}

/* Step 5: add the smallest uncovered cost to covered rows, then subtract it from uncovered
 * columns, each cell rounded as the C++ rounds it: (c + low) - low, or c - low, or c + low.
 * Subtracting 0 (`sub` of a covered column) changes nothing. Returns 0 when done, also when
 * the minimum is 0 (the pass left zeros behind its cursor: nothing changes, the next pass
 * finds them), and -1 when the problem cannot go on (no uncovered cell, or a minimum that is
 * not finite or negative; only reachable with costs near FLT_MAX, where the C++ loops). */
static int shift_costs(Problem *p)
{
    float low = smallest_uncovered(p);
    if (!isfinite(low) || low < 0)
        return -1;
    if (low == 0)
        return 0;
    for (int x = 0; x < p->stride; x++)
        p->sub[x] = p->penalty[x] == 0.0f ? low : 0.0f;
    for (int i = 0; i < p->nr; i++) {
        float *line = p->cost + (size_t)i * p->stride;
        if (p->row_cover[i])
            for (int x = 0; x < p->stride; x++)
                line[x] = (line[x] + low) - p->sub[x];
        else
            for (int x = 0; x < p->stride; x++)
                line[x] = line[x] - p->sub[x];
    }
    return 0;
}

/* Solve one problem in place; leaves the starred column of each row in p->row_star. */
static void munkres(Problem *p)
{
    for (int x = p->nc; x < p->stride; x++)
        p->penalty[x] = INFINITY;
    if (p->nc >= p->nr)
        reduce_rows(p);
    if (p->nc <= p->nr)
        reduce_cols(p);
    star_greedily(p);
    while (!cover_stars(p)) {
        for (int i = 0; i < p->nr; i++)
            p->prime[i] = -1;
        int i;
        while ((i = prime_pass(p)) < 0)
            if (shift_costs(p) < 0)
                return;
        augment(p, i);
    }
}

/* Link k's accepted pairs into conn (a -> b at side 0, b -> a at side 1). */
static void assign_link(const Job *j, const int32_t *tk, const float *scores, Scratch *s,
                        int *conn_a, int *conn_b)
{
    int na = s->counts[tk[2]], nb = s->counts[tk[3]];
    if (!na || !nb)
        return;
    Problem p = {s->cost, s->penalty, s->sub, na, nb, padded(nb),
                 s->row_star, s->col_star, s->prime, s->row_cover};
    for (int a = 0; a < na; a++) {
        float *line = p.cost + (size_t)a * p.stride;
        for (int b = 0; b < nb; b++) {
            float score = scores[a * nb + b];
            line[b] = -(isfinite(score) ? score : 0.0f);
        }
        for (int b = nb; b < p.stride; b++)
            line[b] = INFINITY;
    }
    munkres(&p);
    for (int a = 0; a < na; a++) {
        int b = s->row_star[a];
        if (b < 0)
            continue;
        float score = scores[a * nb + b];
        if (isfinite(score) && score > j->link_threshold) {
            conn_a[a] = b;
            conn_b[b] = a;
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* 5. Connected parts: trt_pose's breadth-first walk                                           */

/* Walk the component of node (c, i) from its first unvisited peak, filling one object row.
 * A node already queued is not queued again: its first queue entry is the one that counts
 * (later ones would be popped after it had been visited, and skipped). */
static void walk(const Job *j, Scratch *s, int root, int32_t *row)
{
    Py_ssize_t cap = j->m < j->h * j->w ? j->m : j->h * j->w;
    int head = 0, tail = 0;
    s->queue[tail++] = root;
    s->seen[root] = 1;
    while (head < tail) {
        int node = s->queue[head++];
        int part = 0;
        while (s->first[part + 1] <= node)
            part++;
        int index = node - s->first[part];
        row[part] = index;
        for (Py_ssize_t k = 0; k < j->k; k++) {
            const int32_t *tk = j->topology + k * 4;
            const int *conn = s->conn + k * 2 * cap;
            if (tk[2] == part && conn[index] >= 0) {
                int next = s->first[tk[3]] + conn[index];
                if (!s->seen[next]) {
                    s->seen[next] = 1;
                    s->queue[tail++] = next;
                }
            }
            if (tk[3] == part && conn[cap + index] >= 0) {
                int next = s->first[tk[2]] + conn[cap + index];
                if (!s->seen[next]) {
                    s->seen[next] = 1;
                    s->queue[tail++] = next;
                }
            }
        }
    }
}

static int connect_parts(const Job *j, Scratch *s, int total, int32_t *objects)
{
    int n_objects = 0;
    memset(s->seen, 0, (size_t)(total ? total : 1));
    for (int node = 0; node < total && n_objects < j->p; node++) {
        if (s->seen[node])
            continue;
        walk(j, s, node, objects + (Py_ssize_t)n_objects * j->c);
        n_objects++;
    }
    return n_objects;
}

/* ------------------------------------------------------------------------------------------ */
/* One frame, and the whole batch                                                              */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Stage boundary: adds the time since the last one to stage `stage` (when timing). */
static void lap(const Job *j, int stage, double *last)
{
    if (!j->timings)
        return;
    double t = now_s();
    j->timings[stage] += t - *last;
    *last = t;
}

static int parse_frame(const Job *j, Py_ssize_t f, Scratch *s)
{
    const float *cmap = j->cmap + f * j->c * j->h * j->w;
    const float *paf = j->paf + f * j->f * j->h * j->w;
    float *normalized = j->normalized + f * j->c * j->m * 2;
    int32_t *objects = j->objects + f * j->p * j->c;
    Py_ssize_t cap = j->m < j->h * j->w ? j->m : j->h * j->w;
    double last = j->timings ? now_s() : 0.0;

    if (!scan_rows(j, cmap, s->row_hit))
        return NOT_FINITE;
    memset(normalized, 0, sizeof(float) * (size_t)(j->c * j->m * 2));
    for (Py_ssize_t q = 0; q < j->p * j->c; q++)
        objects[q] = -1;
    int total = find_peaks(j, cmap, s);
    lap(j, 0, &last);
    refine_peaks(j, cmap, s, normalized);
    lap(j, 1, &last);
    if (score_graph(j, paf, s) != OK)
        return NO_MEMORY;
    lap(j, 2, &last);
    for (Py_ssize_t q = 0; q < j->k * 2 * cap; q++)
        s->conn[q] = -1;
    for (Py_ssize_t k = 0; k < j->k; k++) {
        int *conn = s->conn + k * 2 * cap;
        const int32_t *tk = j->topology + k * 4;
        assign_link(j, tk, s->scores + s->score_start[k], s, conn, conn + cap);
    }
    lap(j, 3, &last);
    j->object_counts[f] = connect_parts(j, s, total, objects);
    lap(j, 4, &last);
    return OK;
}

static int run_job(const Job *j)
{
    Scratch s;
    if (!all_finite(j->paf, j->n * j->f * j->h * j->w))
        return NOT_FINITE;
    if (scratch_alloc(&s, j) != OK)
        return NO_MEMORY;
    for (int t = 0; t < j->samples; t++)
        s.progress[t] = (float)t / (float)(j->samples - 1);
    int status = OK;
    for (Py_ssize_t f = 0; f < j->n && status == OK; f++)
        status = parse_frame(j, f, &s);
    scratch_free(&s);
    return status;
}

/* ------------------------------------------------------------------------------------------ */
/* Argument checks (all before any pointer is used) and the Python entry point                */

typedef struct {
    const char *name;
    const char *format; /* struct format character */
    int ndim;
    int writable;
} Spec;

static const char *type_name(const Spec *spec)
{
    return spec->format[0] == 'f' ? "float32" : spec->format[0] == 'd' ? "float64" : "int32";
}

static int get_buffer(PyObject *obj, Py_buffer *view, const Spec *spec)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (spec->writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError,
                     "%s: expected a C-contiguous%s %s array", spec->name,
                     spec->writable ? " writable" : "", type_name(spec));
        return -1;
    }
    const char *fmt = view->format ? view->format : "B";
    if (fmt[0] == '<' || fmt[0] == '=' || fmt[0] == '@')
        fmt++;
    int int32_ok = spec->format[0] == 'i' && view->itemsize == 4 &&
                   (strcmp(fmt, "i") == 0 || strcmp(fmt, "l") == 0);
    int float_ok = spec->format[0] == 'f' && view->itemsize == 4 && strcmp(fmt, "f") == 0;
    int double_ok = spec->format[0] == 'd' && view->itemsize == 8 && strcmp(fmt, "d") == 0;
    if (!int32_ok && !float_ok && !double_ok) {
        PyErr_Format(PyExc_ValueError, "%s: expected dtype %s, got format '%s' (itemsize %zd)",
                     spec->name, type_name(spec),
                     view->format ? view->format : "B", view->itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    if (view->ndim != spec->ndim) {
        PyErr_Format(PyExc_ValueError, "%s: expected %d dimensions, got %d", spec->name,
                     spec->ndim, view->ndim);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static int check_shapes(const Py_buffer *v, Job *j)
{
    const Py_ssize_t *cm = v[0].shape, *pf = v[1].shape, *tp = v[2].shape;
    const Py_ssize_t *oc = v[3].shape, *ob = v[4].shape, *np_ = v[5].shape;
    if (cm[0] != pf[0] || cm[2] != pf[2] || cm[3] != pf[3]) {
        PyErr_Format(PyExc_ValueError,
                     "cmap [%zd, %zd, %zd, %zd] and paf [%zd, %zd, %zd, %zd] differ in batch or "
                     "map size", cm[0], cm[1], cm[2], cm[3], pf[0], pf[1], pf[2], pf[3]);
        return -1;
    }
    if (cm[2] < 1 || cm[3] < 1 || cm[2] > INT32_MAX / 4 || cm[3] > INT32_MAX / 4 ||
        cm[2] * cm[3] > INT32_MAX / 4) {
        PyErr_Format(PyExc_ValueError, "cmap map size %zd x %zd is empty or too large", cm[2],
                     cm[3]);
        return -1;
    }
    if (tp[1] != 4) {
        PyErr_Format(PyExc_ValueError, "topology: expected shape [K, 4], got [%zd, %zd]", tp[0],
                     tp[1]);
        return -1;
    }
    if (oc[0] != cm[0] || ob[0] != cm[0] || ob[2] != cm[1] || np_[0] != cm[0] ||
        np_[1] != cm[1] || np_[3] != 2) {
        PyErr_SetString(PyExc_ValueError,
                        "outputs must be object_counts [N], objects [N, P, C] and "
                        "normalized_peaks [N, C, M, 2] for the cmap's N and C");
        return -1;
    }
    /* bounds that keep every peak index and per-link pair count (at most M * M) in an int */
    if (np_[2] < 1 || np_[2] > 10000 || ob[1] < 1 || ob[1] > 10000 || cm[1] > INT32_MAX / 4 ||
        cm[1] * np_[2] > INT32_MAX / 4) {
        PyErr_SetString(PyExc_ValueError,
                        "max_num_parts and max_num_objects must be between 1 and 10000 "
                        "(and C * max_num_parts below 2**29)");
        return -1;
    }
    j->n = cm[0];
    j->c = cm[1];
    j->h = cm[2];
    j->w = cm[3];
    j->f = pf[1];
    j->k = tp[0];
    j->p = ob[1];
    j->m = np_[2];
    return 0;
}

/* Checks the job's copy of the topology (the stages read only that copy). */
static int check_topology(const Job *j)
{
    for (Py_ssize_t k = 0; k < j->k; k++) {
        const int32_t *tk = j->topology + k * 4;
        if (tk[0] < 0 || tk[0] >= j->f || tk[1] < 0 || tk[1] >= j->f) {
            PyErr_Format(PyExc_ValueError,
                         "topology row %zd names PAF channels outside the %zd paf channels", k,
                         j->f);
            return -1;
        }
        if (tk[2] < 0 || tk[2] >= j->c || tk[3] < 0 || tk[3] >= j->c) {
            PyErr_Format(PyExc_ValueError,
                         "topology row %zd names parts outside the %zd cmap channels", k, j->c);
            return -1;
        }
    }
    return 0;
}

static int check_params(int window, int samples, Py_ssize_t k_links)
{
    if (window < 1 || window > 1001) {
        PyErr_Format(PyExc_ValueError, "cmap_window must be between 1 and 1001, got %d", window);
        return -1;
    }
    if (samples < 1 || samples > 10000) {
        PyErr_Format(PyExc_ValueError, "line_integral_samples must be between 1 and 10000, got %d",
                     samples);
        return -1;
    }
    if (k_links > INT32_MAX / 4) {
        PyErr_SetString(PyExc_ValueError, "topology: too many links");
        return -1;
    }
    return 0;
}

/* Does buffer a's memory overlap buffer b's? (Both C-contiguous: [buf, buf + len).) */
static int overlaps(const Py_buffer *a, const Py_buffer *b)
{
    uintptr_t a0 = (uintptr_t)a->buf, b0 = (uintptr_t)b->buf;
    return a->len > 0 && b->len > 0 && a0 < b0 + (uintptr_t)b->len &&
           b0 < a0 + (uintptr_t)a->len;
}

/* An output sharing memory with an input or another output would be overwritten while the
 * stages read it (or write two results into one place): refused, naming both. */
static int check_overlaps(const Py_buffer *views, const Spec *specs, int count)
{
    for (int a = 0; a < count; a++) {
        if (!specs[a].writable)
            continue;
        for (int b = 0; b < count; b++) {
            if (b == a || (specs[b].writable && b < a) || !overlaps(&views[a], &views[b]))
                continue;
            PyErr_Format(PyExc_ValueError,
                         "%s overlaps %s in memory: outputs must not share memory with the "
                         "inputs or with each other", specs[a].name, specs[b].name);
            return -1;
        }
    }
    return 0;
}

/* A copy of the caller's K x 4 topology that the job owns (NULL with MemoryError set). */
static int32_t *copy_topology(const Py_buffer *view, Py_ssize_t k)
{
    size_t size = sizeof(int32_t) * 4 * (size_t)k;
    int32_t *copy = malloc(size ? size : 1);
    if (!copy) {
        PyErr_NoMemory();
        return NULL;
    }
    if (size)
        memcpy(copy, view->buf, size);
    return copy;
}

static PyObject *parse(PyObject *self, PyObject *args)
{
    static const Spec specs[7] = {
        {"cmap", "f", 4, 0},          {"paf", "f", 4, 0},     {"topology", "i", 2, 0},
        {"object_counts", "i", 1, 1}, {"objects", "i", 3, 1}, {"normalized_peaks", "f", 4, 1},
        {"timings", "d", 1, 1},
    };
    PyObject *objs[7] = {NULL, NULL, NULL, NULL, NULL, NULL, Py_None};
    double cmap_threshold, link_threshold;
    int window, samples;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOOddiiOOO|O:parse", &objs[0], &objs[1], &objs[2],
                          &cmap_threshold, &link_threshold, &window, &samples, &objs[3],
                          &objs[4], &objs[5], &objs[6]))
        return NULL;
    Py_buffer views[7];
    int wanted = objs[6] == Py_None ? 6 : 7, got = 0;
    for (; got < wanted; got++)
        if (get_buffer(objs[got], &views[got], &specs[got]) < 0)
            break;
    Job job;
    int32_t *topology = NULL; /* the job's copy: freed on every path below */
    int failed = got < wanted;
    if (!failed)
        failed = check_shapes(views, &job) < 0 || check_params(window, samples, job.k) < 0;
    if (!failed && wanted == 7 && views[6].shape[0] != 5) {
        PyErr_SetString(PyExc_ValueError, "timings: expected 5 float64 (one per stage)");
        failed = 1;
    }
    if (!failed)
        failed = check_overlaps(views, specs, wanted) < 0;
    if (!failed) {
        topology = copy_topology(&views[2], job.k);
        failed = topology == NULL;
    }
    if (!failed) {
        job.cmap = views[0].buf;
        job.paf = views[1].buf;
        job.topology = topology;
        job.object_counts = views[3].buf;
        job.objects = views[4].buf;
        job.normalized = views[5].buf;
        job.timings = wanted == 7 ? views[6].buf : NULL;
        job.cmap_threshold = (float)cmap_threshold;
        job.link_threshold = (float)link_threshold;
        job.radius = window / 2;
        job.samples = samples;
        failed = check_topology(&job) < 0;
    }
    int status = OK;
    if (!failed) {
        Py_BEGIN_ALLOW_THREADS;
        status = run_job(&job);
        Py_END_ALLOW_THREADS;
        if (status == NOT_FINITE) {
            PyErr_SetString(PyExc_ValueError,
                            "cmap or paf holds NaN or infinite values (a broken model output?)");
            failed = 1;
        } else if (status == NO_MEMORY) {
            PyErr_NoMemory();
            failed = 1;
        }
    }
    free(topology);
    for (int v = 0; v < got; v++)
        PyBuffer_Release(&views[v]);
    if (failed)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"parse", parse, METH_VARARGS,
     "parse(cmap, paf, topology, cmap_threshold, link_threshold, cmap_window,\n"
     "      line_integral_samples, object_counts, objects, normalized_peaks[, timings])\n\n"
     "trt_pose's parse into the given output arrays (see edged.pipelines.pose.compiled)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_parse",
    "Compiled trt_pose parse, bit for bit the same as edged's numpy parse.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__parse(void)
{
    return PyModule_Create(&module);
}
