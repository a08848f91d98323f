/* A program built with -march=x86-64-v3 (tests/e2e/emu_x86_64_v3.sh): it
 * prints checksums of vectorised float and integer work, so its output on
 * emu can be compared with the host's.  It uses what such a build uses:
 * the compiler's own AVX2/FMA code for plain loops and GCC vector types,
 * intrinsics for the forms compilers rarely pick (gathers, permutes,
 * masked moves, F16C), and the C library's AVX2 string functions and FMA
 * math functions, which it selects at start-up from CPUID. */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 4096

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef double v4d __attribute__((vector_size(32)));

static float fa[N], fb[N], fc[N];
static double da[N], db[N];
static int32_t ia[N], ib[N];
static uint8_t bytes[N + 64];

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	return h;
}

static uint64_t hash(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}

/* Plain loops: the compiler vectorises these with VEX forms. */
__attribute__((noinline)) static void saxpy(float a)
{
	for (int i = 0; i < N; i++)
		fc[i] = a * fa[i] + fb[i];
}

__attribute__((noinline)) static double dot(void)
{
	double s = 0;
	for (int i = 0; i < N; i++)
		s = fma(da[i], db[i], s);
	return s;
}

__attribute__((noinline)) static void int_mix(void)
{
	for (int i = 0; i < N; i++)
		ia[i] = (ia[i] * 1103515245 + ib[i]) ^ (ib[i] >> 3) ^ (ia[i] << 5);
}

/* GCC vector types: 256-bit operations whatever the loop vectoriser does. */
__attribute__((noinline)) static v8f vec_float(void)
{
	v8f acc = { 0 };
	for (int i = 0; i < N; i += 8) {
		v8f x, y;
		memcpy(&x, fa + i, 32);
		memcpy(&y, fb + i, 32);
		acc = acc * 0.5f + x * y - x / (y * y + 1.0f);
		v8i big = acc > 1e6f;
		acc = (v8f)(((v8i)(acc * 1e-6f) & big) | ((v8i)acc & ~big));
	}
	return acc;
}

__attribute__((noinline)) static v8i vec_int(void)
{
	v8i acc = { 1, 2, 3, 4, 5, 6, 7, 8 };
	for (int i = 0; i < N; i += 8) {
		v8i x;
		memcpy(&x, ia + i, 32);
		acc = (acc * x + (x >> 7)) ^ (acc << 3);
		acc = __builtin_shuffle(acc, (v8i){ 7, 0, 6, 1, 5, 2, 4, 3 });
		v8i lt = acc < x;
		acc = ((acc - x) & lt) | ((acc + x) & ~lt);
	}
	return acc;
}

/* Intrinsics for the forms compilers seldom emit. */
__attribute__((noinline)) static uint64_t intrinsics(void)
{
	uint64_t h = 0;
	__m256i idx = _mm256_setr_epi32(3, 17, 100, 7, 2048, 4000, 1, 999);
	for (int r = 0; r < 64; r++) {
		__m256 g = _mm256_i32gather_ps(fa + r, idx, 4);
		__m256d gd = _mm256_i32gather_pd(da + r, _mm256_castsi256_si128(idx), 8);
		__m256i gi = _mm256_mask_i32gather_epi32(_mm256_set1_epi32(-1), ia + r, idx,
		                                         _mm256_setr_epi32(-1, 0, -1, 0, -1, -1, 0, -1), 4);
		__m256 f = _mm256_fmaddsub_ps(g, _mm256_set1_ps(1.5f), _mm256_permutevar8x32_ps(g, idx));
		f = _mm256_fnmadd_ps(f, g, _mm256_blend_ps(f, g, 0xa5));
		__m256i p = _mm256_permute4x64_epi64(gi, 0x4e);
		p = _mm256_sllv_epi32(p, _mm256_and_si256(idx, _mm256_set1_epi32(31)));
		p = _mm256_add_epi64(p, _mm256_srav_epi32(gi, _mm256_set1_epi32(r & 31)));
		__m128i half = _mm256_cvtps_ph(f, _MM_FROUND_TO_NEAREST_INT);
		__m256 back = _mm256_cvtph_ps(half);
		__m256 m = _mm256_maskload_ps(fb + r, _mm256_castps_si256(back));
		__m256d dd = _mm256_fmsub_pd(gd, _mm256_broadcast_sd(db + r),
		                             _mm256_sqrt_pd(_mm256_andnot_pd(_mm256_set1_pd(-0.0), gd)));
		__m256i cmp = _mm256_cmpgt_epi32(p, gi);
		int mask = _mm256_movemask_epi8(cmp) ^ _mm256_movemask_ps(m) ^ _mm256_movemask_pd(dd);
		uint64_t lanes[4];
		_mm256_storeu_si256((__m256i *)lanes, _mm256_xor_si256(p, _mm256_castps_si256(back)));
		double dl[4];
		_mm256_storeu_pd(dl, _mm256_round_pd(dd, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC));
		h = mix(h, (uint64_t)(uint32_t)mask);
		for (int i = 0; i < 4; i++) {
			uint64_t u;
			memcpy(&u, &dl[i], 8);
			h = mix(mix(h, lanes[i]), u);
		}
		float fm[8];
		_mm256_storeu_ps(fm, _mm256_add_ps(m, _mm256_permute2f128_ps(f, back, 0x21)));
		h = mix(h, hash(fm, sizeof(fm)));
		h = mix(h, (uint64_t)_mm256_testz_si256(p, cmp) | (uint64_t)_mm256_testc_si256(gi, p) << 1);
	}
	return h;
}

static int cmp_int(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	return (x > y) - (x < y);
}

int main(void)
{
	uint64_t seed = 42;
	for (int i = 0; i < N; i++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		fa[i] = (float)(int32_t)(seed >> 40) / 1024.0f;
		fb[i] = (float)(int32_t)(seed >> 20 & 0xfffff) / 77.0f - 1000.0f;
		da[i] = (double)(int64_t)(seed >> 11) * 1e-9;
		db[i] = 1.0 / (double)((seed >> 33) | 1);
		ia[i] = (int32_t)(seed >> 32);
		ib[i] = (int32_t)seed;
	}
	for (int i = 0; i < N + 64; i++)
		bytes[i] = (uint8_t)('a' + (i * 7) % 26);
	bytes[N + 10] = 0;

	saxpy(2.5f);
	printf("saxpy  %016llx\n", (unsigned long long)hash(fc, sizeof(fc)));
	printf("dot    %.17g\n", dot());
	int_mix();
	printf("intmix %016llx\n", (unsigned long long)hash(ia, sizeof(ia)));
	v8f vf = vec_float();
	printf("vecf   %016llx\n", (unsigned long long)hash(&vf, sizeof(vf)));
	v8i vi = vec_int();
	printf("veci   %016llx\n", (unsigned long long)hash(&vi, sizeof(vi)));
	printf("intrin %016llx\n", (unsigned long long)intrinsics());

	/* the C library's CPUID-selected string and math functions */
	uint64_t h = 0;
	for (int i = 0; i < 200; i++) {
		h = mix(h, strlen((const char *)bytes + i));
		const void *c = memchr(bytes + i, 'q', (size_t)(N - i));
		h = mix(h, c ? (uint64_t)((const uint8_t *)c - bytes) : 0);
		h = mix(h, (uint64_t)memcmp(bytes + i, bytes + 26 + i, 40 + (size_t)i) + 7);
		char buf[512];
		memcpy(buf, bytes + i, sizeof(buf));
		memset(buf + i, 'z', 100);
		h = mix(h, hash(buf, sizeof(buf)));
		h = mix(h, (uint64_t)(strchr(buf, 'z') - buf));
		h = mix(h, (uint64_t)strncmp((const char *)bytes + i, (const char *)bytes + i + 26, 300));
	}
	printf("string %016llx\n", (unsigned long long)h);
	double m = 0;
	for (int i = 1; i < 2000; i++) {
		double x = i * 0.37;
		m += exp(-x / 100) + log(x) + sin(x) * cos(x / 3) + pow(x, 0.3) + atan(x) + tanh(x / 1000);
		m += (double)expf((float)(-x / 50)) + (double)logf((float)x) + (double)sinf((float)x);
	}
	printf("math   %.17g\n", m);
	qsort(ib, N, sizeof(ib[0]), cmp_int);
	printf("qsort  %016llx\n", (unsigned long long)hash(ib, sizeof(ib)));
	char line[128];
	snprintf(line, sizeof(line), "%.9e %a %d", (double)fa[7] / 3.0, da[9], ia[11]);
	printf("printf %s\n", line);
	return 0;
}
