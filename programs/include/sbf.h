/* The Solana runtime as seen from a C program built with clang -target bpfel (SBPF v0).
 *
 * Our own minimal definitions (the layouts are the runtime's ABI): the serialized input of
 * the aligned BPF loader, the C account-info/instruction structs that sol_invoke_signed_c
 * takes, the syscalls used, and small helpers. clang's BPF target: 512 bytes of stack per
 * function, at most 5 arguments, no __int128, no struct returns: big state lives in the
 * 32 KiB heap, helpers take pointers. Everything is static except `entrypoint`. */
#ifndef SBF_H
#define SBF_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef int i32;
typedef unsigned long u64;
typedef long i64;

typedef struct { u8 x[32]; } Pk;

/* SolAccountInfo: what sol_invoke_signed_c reads (and updates after a CPI: lamports, data_len) */
typedef struct {
    Pk *key;
    u64 *lamports;
    u64 data_len;
    u8 *data;
    Pk *owner;
    u64 rent_epoch;
    u8 is_signer, is_writable, executable;
} AI;
typedef struct { const Pk *pubkey; u8 is_writable, is_signer; } AM;
typedef struct { const Pk *program_id; const AM *accounts; u64 account_len; const u8 *data; u64 data_len; } IX;
typedef struct { const u8 *addr; u64 len; } Seed;
typedef struct { const Seed *addr; u64 len; } Seeds;
typedef struct { const u8 *addr; u64 len; } Bytes;
typedef struct { u64 slot; i64 epoch_start_timestamp; u64 epoch; u64 leader_schedule_epoch; i64 unix_timestamp; } Clock;

extern u64 sol_invoke_signed_c(const IX *, const AI *, int, const Seeds *, int);
extern u64 sol_try_find_program_address(const Seed *, u64, const Pk *, Pk *, u8 *);
extern u64 sol_create_program_address(const Seed *, u64, const Pk *, Pk *);
extern u64 sol_get_clock_sysvar(void *);
extern u64 sol_get_rent_sysvar(void *);
extern void sol_log_(const char *, u64);
extern void sol_log_64_(u64, u64, u64, u64, u64);
extern void sol_log_data(const Bytes *, u64);

#define HEAP 0x300000000UL
#define MAX_PERMITTED_DATA_INCREASE 10240
#define NON_DUP_MARKER 0xff

/* Runtime error codes a program may return (besides custom codes < 2^32) */
#define ERR_BUILTIN(n) ((u64)(n) << 32)
#define ERR_INVALID_ARGUMENT ERR_BUILTIN(2)
#define ERR_NOT_ENOUGH_ACCOUNT_KEYS ERR_BUILTIN(11)

/* Anchor's error codes (anchor-lang 0.3x, error.rs) */
#define A_INSTRUCTION_FALLBACK_NOT_FOUND 101
#define A_INSTRUCTION_DID_NOT_DESERIALIZE 102
#define A_CONSTRAINT_MUT 2000
#define A_CONSTRAINT_HAS_ONE 2001
#define A_CONSTRAINT_SIGNER 2002
#define A_CONSTRAINT_RAW 2003
#define A_CONSTRAINT_OWNER 2004
#define A_CONSTRAINT_SEEDS 2006
#define A_CONSTRAINT_ADDRESS 2012
#define A_CONSTRAINT_ZERO 2013
#define A_CONSTRAINT_TOKEN_MINT 2014
#define A_CONSTRAINT_TOKEN_OWNER 2015
#define A_CONSTRAINT_MINT_TOKEN_PROGRAM 2022
#define A_REQUIRE_EQ 2501
#define A_REQUIRE_GT 2505
#define A_REQUIRE_GTE 2506
#define A_DISCRIMINATOR_NOT_FOUND 3001
#define A_DISCRIMINATOR_MISMATCH 3002
#define A_ACCOUNT_DID_NOT_DESERIALIZE 3003
#define A_NOT_ENOUGH_KEYS 3005
#define A_ACCOUNT_NOT_MUTABLE 3006
#define A_OWNED_BY_WRONG_PROGRAM 3007
#define A_INVALID_PROGRAM_ID 3008
#define A_INVALID_PROGRAM_EXECUTABLE 3009
#define A_ACCOUNT_NOT_SIGNER 3010
#define A_ACCOUNT_NOT_SYSTEM_OWNED 3011
#define A_ACCOUNT_NOT_INITIALIZED 3012
#define A_NOT_ASSOCIATED_TOKEN_ACCOUNT 3014
#define A_ACCOUNT_SYSVAR_MISMATCH 3015

#define INLINE static inline __attribute__((always_inline))
#define NOINLINE static __attribute__((noinline))

#define RD16(p) (*(const u16 *)(p))
#define RD32(p) (*(const u32 *)(p))
#define RDI32(p) (*(const i32 *)(p))
#define RD64(p) (*(const u64 *)(p))
#define RDI64(p) (*(const i64 *)(p))
#define WR16(p, v) (*(u16 *)(p) = (u16)(v))
#define WR32(p, v) (*(u32 *)(p) = (u32)(v))
#define WR64(p, v) (*(u64 *)(p) = (u64)(v))

/* Well-known program ids (bytes of the base58 addresses) */
static const Pk SYSTEM_PROGRAM = {{0}};
static const Pk TOKEN_PROGRAM = {{6, 221, 246, 225, 215, 101, 161, 147, 217, 203, 225, 70, 206, 235, 121,
                                  172, 28, 180, 133, 237, 95, 91, 55, 145, 58, 140, 245, 133, 126, 255, 0, 169}};
static const Pk TOKEN_2022_PROGRAM = {{6, 221, 246, 225, 238, 117, 143, 222, 24, 66, 93, 188, 228, 108, 205,
                                       218, 182, 26, 252, 77, 131, 185, 20, 133, 127, 191, 137, 6, 121, 203,
                                       11, 252}};
static const Pk ATA_PROGRAM = {{140, 151, 37, 143, 78, 36, 137, 241, 187, 61, 16, 41, 20, 142, 13, 131, 11,
                                90, 19, 153, 218, 255, 16, 132, 4, 142, 123, 216, 219, 233, 248, 89}};
static const Pk MEMO_PROGRAM = {{5, 74, 83, 90, 153, 41, 33, 6, 77, 36, 232, 113, 96, 218, 56, 124, 124, 53,
                                 181, 221, 188, 146, 187, 129, 228, 31, 168, 64, 65, 5, 68, 141}};
static const Pk RENT_SYSVAR = {{6, 167, 213, 23, 25, 44, 92, 81, 33, 140, 201, 76, 61, 74, 241, 127, 88, 218,
                                238, 8, 155, 161, 253, 68, 227, 219, 217, 138, 0, 0, 0, 0}};

INLINE int pk_eq(const void *a, const void *b) {
    const u64 *x = (const u64 *)a, *y = (const u64 *)b;
    return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}
/* memcmp order of two 32-byte keys: <0, 0, >0 */
NOINLINE int pk_cmp(const u8 *a, const u8 *b) {
    for (int i = 0; i < 32; i++)
        if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
    return 0;
}
INLINE int bytes_eq8(const u8 *a, const u8 *b) { return *(const u64 *)a == *(const u64 *)b; }
NOINLINE void copy_bytes(u8 *dst, const u8 *src, u64 n) { for (u64 i = 0; i < n; i++) dst[i] = src[i]; }
NOINLINE void zero_bytes(u8 *dst, u64 n) { for (u64 i = 0; i < n; i++) dst[i] = 0; }
INLINE u64 rd64u(const u8 *p) { /* unaligned */
    u64 v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
INLINE void wr64u(u8 *p, u64 v) { for (int i = 0; i < 8; i++) p[i] = (u8)(v >> (8 * i)); }

/* The aligned loader's serialized input -> AI[] (in the heap), instruction data, program id.
 * Duplicate accounts are copies of the first entry (same pointers into the input). */
typedef struct { AI *ai; u64 n; const u8 *data; u64 data_len; const Pk *program_id; } Input;

NOINLINE u64 parse_input(u8 *in, AI *ai, u64 max, Input *out) {
    u64 n = *(u64 *)in;
    in += 8;
    if (n > max) return ERR_NOT_ENOUGH_ACCOUNT_KEYS;
    for (u64 i = 0; i < n; i++) {
        u8 dup = *in;
        in += 1;
        if (dup != NON_DUP_MARKER) {
            ai[i] = ai[dup];
            in += 7;
            continue;
        }
        ai[i].is_signer = in[0];
        ai[i].is_writable = in[1];
        ai[i].executable = in[2];
        in += 7; /* 3 flags + 4 bytes (original data length) */
        ai[i].key = (Pk *)in;
        in += 32;
        ai[i].owner = (Pk *)in;
        in += 32;
        ai[i].lamports = (u64 *)in;
        in += 8;
        ai[i].data_len = *(u64 *)in;
        in += 8;
        ai[i].data = in;
        in += ai[i].data_len + MAX_PERMITTED_DATA_INCREASE;
        in = (u8 *)(((u64)in + 7) & ~7UL);
        ai[i].rent_epoch = *(u64 *)in;
        in += 8;
    }
    out->ai = ai;
    out->n = n;
    out->data_len = *(u64 *)in;
    in += 8;
    out->data = in;
    out->program_id = (const Pk *)(in + out->data_len);
    return 0;
}

/* ---- SPL Token (and Token-2022's base layout) ---- */
#define TOKEN_ACCOUNT_LEN 165
#define MINT_LEN 82
/* token account: mint 0, owner 32, amount 64, delegate 72 (COption), state 108 */
#define TA_MINT 0
#define TA_OWNER 32
#define TA_AMOUNT 64
#define TA_STATE 108
/* mint: mint_authority 0 (COption), supply 36, decimals 44, is_initialized 45 */
#define MINT_SUPPLY 36
#define MINT_DECIMALS 44
#define MINT_INITIALIZED 45

INLINE int is_token_program(const Pk *k) { return pk_eq(k, &TOKEN_PROGRAM) || pk_eq(k, &TOKEN_2022_PROGRAM); }

/* An InterfaceAccount<TokenAccount> as Anchor loads it: owned by a token program, unpacks. */
INLINE u64 check_token_account(const AI *a) {
    if (!is_token_program(a->owner)) return A_OWNED_BY_WRONG_PROGRAM;
    if (a->data_len < TOKEN_ACCOUNT_LEN || a->data[TA_STATE] == 0) return A_ACCOUNT_DID_NOT_DESERIALIZE;
    return 0;
}
INLINE u64 check_mint(const AI *a) {
    if (!is_token_program(a->owner)) return A_OWNED_BY_WRONG_PROGRAM;
    if (a->data_len < MINT_LEN || a->data[MINT_INITIALIZED] == 0) return A_ACCOUNT_DID_NOT_DESERIALIZE;
    return 0;
}
/* An Interface<TokenInterface>: the token program or Token-2022, executable */
INLINE u64 check_token_program(const AI *a) {
    if (!is_token_program(a->key)) return A_INVALID_PROGRAM_ID;
    if (!a->executable) return A_INVALID_PROGRAM_EXECUTABLE;
    return 0;
}

/* TransferChecked (12) on `program`: source, mint, destination, authority (signer). The
 * authority may be the owner or an approved delegate of the source: the token program
 * decides. `signer` is NULL for a transaction signer, else the PDA's seeds. */
typedef struct {
    const AI *infos; u64 ninfos;
    const AI *program, *source, *mint, *destination, *authority;
    u64 amount;
    const Seeds *signer;
} Transfer;

NOINLINE u64 token_transfer_checked(const Transfer *t) {
    AM metas[4] = {{t->source->key, 1, 0}, {t->mint->key, 0, 0}, {t->destination->key, 1, 0},
                   {t->authority->key, 0, 1}};
    u8 data[10];
    data[0] = 12;
    wr64u(data + 1, t->amount);
    data[9] = t->mint->data[MINT_DECIMALS];
    IX ix = {t->program->key, metas, 4, data, 10};
    return sol_invoke_signed_c(&ix, t->infos, (int)t->ninfos, t->signer, t->signer ? 1 : 0);
}

#endif
