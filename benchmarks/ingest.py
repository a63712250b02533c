"""Ingest benchmark: X API v2 JSONL into SQLite.

Prints posts/s and peak RSS for ``rasd`` ingest, and for a naive baseline
(``json.loads`` + one ``executemany`` into one table, nothing else: no raw
records, accounts, edges, history or idempotency) measured in the same run on
the same file, and the ratio between them.

    python benchmarks/ingest.py                 # 200k posts (~190 MB file)
    python benchmarks/ingest.py --posts 50000
    python benchmarks/ingest.py --size-gb 1.0   # the ≥1 GB bounded-memory run
    python benchmarks/ingest.py --pg postgresql://postgres@127.0.0.1:5432/test
                                                # also into PostgreSQL (a fresh schema)
    python benchmarks/ingest.py --pg URL --pg-only --posts 20000   # PostgreSQL alone
    python benchmarks/ingest.py --flat ...      # twarc2 flattened lines (a tweet a line)
    python benchmarks/ingest.py --pg URL --pg-only --late ...  # then an older copy of
                                                # the file: every post a copy read late

Each measurement runs in a child process so that peak RSS is its own (for the
two-process ingest: the writing process + the parsing process).
The data is generated: synthetic tweets in the real v2 page shape (100 tweets a
page, includes.users, mentions, hashtags, URLs, replies, retweets). "parse only"
is the X parser alone, without a store: a floor no store tuning can remove.

Where the goal stands (issue 2: >= 20,000 posts/s on 2 cores and >= 0.5x the
naive baseline; a >= 1 GB file under 500 MB). Measured 2026-11-29 on the
project's 2-core machine, whose speed varies +-30% over minutes (shared host:
"parse only" is a fair speed gauge; compare figures within one run):
  default (200k posts, 186 MB), final code (load 2.0): 2 processes 22,219
    posts/s, re-ingest 22,701/s, naive 118,293/s -> 0.19x; SQLite floor 66,610/s
    (0.56x naive); 12,904 posts per CPU-second (both processes); peak RSS
    202 MB + 80 MB (parser). Earlier runs the same day: 22,095/s and, in a
    slower spell, 18,010/s (before items stopped repeating row values and the
    raw bytes were compressed before the hand-over: 10,491 posts per CPU-s).
  --posts 50000, final code (load 2.2): 2 processes 20,528/s, 1 process
    13,522/s, re-ingest 23,755/s, naive 125,830/s -> 0.16x; floor 69,665/s.
  --size-gb 1.0 (1.1M posts), final code (load 1.5): 2 processes 18,144/s,
    re-ingest 21,708/s, naive 102,719/s -> 0.18x; floor 46,990/s; peak RSS
    298 MB + 81 MB (goal < 500 MB: met).
  Session 3 (same day, a much slower spell of the shared host: naive 46-68k/s,
  parse-only 27-37k/s): 200k posts 11,388/s (0.24x naive), 50k 11,084/s
  (0.16x; 1 process 5,881/s); an A/B of the final code against the code
  before session 3, alternated three times, showed no difference outside
  the noise (50k: 4.6-6.0 s against 4.9-5.9 s with 2 processes).
  Into a store already holding 1.1M posts, 50k new posts took 10.9-11.2 s
  against ~5-6 s into an empty store; with commits no longer checkpointing
  while the checkpoint thread runs, 9.9-10.1 s (A/B alternated). A 4x page
  cache or 10x batches changed nothing there. PostgreSQL (--pg, 50k posts):
  20.6-22.1 s, then 16.7-18.9 s with ids read back by RETURNING.
  The same machine and file at the start of the day (one process, no index
  deferral, no background checkpoints): 11,200-12,100/s at 50k posts, 4,184/s
  at 1 GB (then ~220 us/post in SQLite alone as the indexes outgrew the cache).
  Session 4 (a normal-speed spell: naive 153k posts/s): 200k posts 25,215/s
  (0.16x; 1 process 15,896/s; peak RSS 203 + 81 MB), 50k 24,782/s; --pg 50k:
  PostgreSQL 9,130/s. Per post: naive 6.5 us, rasd's parser alone 12.4 us
  (0.52x naive by itself), SQLite floor 11.5 us.
  Session 5 (a slower spell: naive 120-125k posts/s, load ~1.9 at start):
  200k posts 21,614/s (0.18x; 1 process 13,571/s; re-ingest 22,336/s; peak
  RSS 201 + 81 MB), 50k 18,844/s (0.15x); --pg 50k: 6,765/s. Per post (200k):
  naive 8.3 us, parse 16.1 us, SQLite floor 13.1 us, ingest 46.3 us. A profile
  of the two processes: parse + Prep ~39 us/post in the child, Writer.apply
  ~42 us/post in the parent (balanced): 0.5x would need both ~3x cheaper.
  Session 7 (a fast spell: naive 152,690 posts/s; load 1.8 at start), after
  links to posts not stored yet were made to wait for them (pending_links)
  and hostile counters bounded: 200k posts 23,570/s (0.15x; 1 process
  16,541/s; re-ingest 27,369/s; 13,199 posts per CPU-second; peak RSS 204 +
  82 MB); per post: naive 6.5 us, parse 12.5 us, SQLite floor 12.8 us (0.51x
  naive), ingest 42.4 us. A/B against the session's first commit (50k posts,
  2 processes, 7 alternated pairs): wall ratio median 1.03 (0.95-1.08).
  Final code of session 7, after its last review fixes: 200k posts 27,008/s
  (0.16x; naive 167,474/s; 1 process 17,851/s; re-ingest 27,911/s; 15,799
  posts per CPU-s; peak RSS 203 + 82 MB; floor 0.59x). Shortly before
  (edges.post_id index, link_pending per run; naive
  171,613/s, a fast spell): 200k posts 28,428/s (0.17x; 1 process 17,943/s;
  re-ingest 30,226/s; 16,833 posts per CPU-second; peak RSS 202 + 82 MB);
  per post naive 5.8 us, parse 12.4 us, SQLite floor 9.8 us (0.60x), ingest
  35.2 us.
  --size-gb 1.0 --skip-one (1.1M posts; other tests ran beside it part of the
  time): 2 processes 16,905/s, re-ingest 21,794/s, naive 158,467/s -> 0.11x;
  SQLite floor 55,694/s = 0.35x naive (18.0 us/post: at this size the floor
  alone is below 0.5x); peak RSS 307 + 83 MB (goal < 500 MB: met).
  Session 8 (a slow spell of the host all day: naive 70-96k posts/s against
  150-170k, "parse only" 43-47k/s against ~80k), ingest runs now recording
  their process and beating a heartbeat from a thread: 200k posts 13,929/s
  (0.20x; 1 process 10,975/s; re-ingest 17,793/s; peak RSS 202 + 81 MB;
  floor 0.85x naive in that spell); --size-gb 1.0 --skip-one (1.1M posts,
  alone on the machine): 14,505/s (0.15x; naive 96,133/s; re-ingest
  17,954/s; floor 0.43x), peak RSS 310 + 82 MB (goal < 500 MB: met).
  Session 9 (the slowest spell yet: naive 41,878 posts/s, "parse only"
  19,607/s against ~80k in normal spells; load 1.5 at start), after the
  batch-independent history and counts, per-batch run counts and the
  PostgreSQL write lock: 200k posts 7,556/s (0.18x; 1 process 5,300/s;
  re-ingest 9,095/s; floor 0.77x naive; peak RSS 203 + 83 MB). A/B of the
  final code against the session's first commit (50k posts, 2 processes,
  farm-bench, 4 alternated pairs): wall ratio median 1.00 (1.00-1.05).
  Session 10 (a fast spell: naive 164,704 posts/s, "parse only" 74,608/s;
  load 2.3 at start), after older copies were kept as versions, the
  handle_key column (migration 0015), Telegram export days and the
  batch-independent counts of moved profiles: 200k posts 25,781/s (0.16x;
  1 process 16,029/s; re-ingest 26,051/s; 15,185 posts per CPU-second; peak
  RSS 204 + 83 MB; floor 0.54x naive); per post naive 6.1 us, parse 13.4 us,
  SQLite floor 11.2 us, ingest 38.8 us. A/B of the final code against the
  session's first commit (50k posts, 2 processes, 5 alternated pairs): wall
  ratio median 0.98 (0.94-1.03), cpu 0.99. (A run while other work loaded the
  machine, load 3.7: 13,498/s, 0.09x; compare figures within one quiet run.)
  Session 11 (a slower spell: naive 123,473 posts/s, "parse only" 57,297/s;
  load 1.45 at start), after history placement by the state in effect at a
  copy's time, name_key (migration 0017) and the repeat counts: 200k posts
  18,966/s (0.15x; 1 process 10,820/s; re-ingest 18,685/s; peak RSS 203 + 84
  MB; floor 0.56x naive); per post naive 8.1 us, parse 17.5 us, SQLite floor
  14.4 us, ingest 52.7 us. A/B of the final code against the session's first
  commit (50k posts, farm-bench, 5 alternated pairs): 1 process wall ratio
  median 1.03 (0.97-1.06); 2 processes 0.91 (0.85-1.04). --size-gb 1.0
  --skip-one while other work loaded the machine (load 8; speeds meaningless):
  peak RSS 304 + 84 MB (goal < 500 MB: met).
  Session 12 (CPU per post; the host was loaded 7.5-9.5 on its 2 cores all
  session, naive 15-33k posts/s: wall times meaningless). A/B by instruction
  counts (callgrind, 1-process ingest of 4,000 generated posts after a
  warm-up, repeatable to 0.2%): 2,484M -> 2,138M (-14%), ~534k a post;
  by phase, parse 793M -> 662M, Prep 417M -> 360M, Writer.apply 1,227M ->
  1,081M. Where a post's ~530k go now: parse 165k (sha256 of the raw line
  27k, overstated under valgrind, which lacks the SHA extensions; orjson
  25k; user_v2 39k and tweet_v2 55k, were 52k and 69k), Prep 90k (zstd
  15k, content hashes ~19k: blake2b's reference code and orjson), apply
  270k (executemany 150k: SQLite's own work 100k, binding 36k, the None
  adapter 17k; the rest Python: rows, lookups, counts). Kept: UTC times
  compared and bound without datetime.replace (~10k instructions a call),
  SQLite DATETIME text from per-day date text and two-digit fields (was
  isoformat, 15k with an offset formatted only to be cut off), fast paths
  in user_v2/tweet_v2 for plain values (helpers and field names only for
  odd ones), parse_time reading "...Z" with fromisoformat alone, Prep
  without enum calls or empty comprehensions. --posts 50000, old/new
  alternated 3 times: posts per CPU-second (both processes) 2 processes
  7,681 / 7,803 / 6,161 old against 8,292 / 8,372 / 8,724 new, 1 process
  8,714 / 8,294 / 7,702 against 9,732 / 9,108 / 9,493, re-ingest 11,061 /
  9,871 / 9,379 against 11,764 / 11,353 / 12,003. PostgreSQL (20k posts,
  1 process): the client waits on the server's INSERT ... SELECT (posts
  3.7 s, edges 4.0 s of 17.6 s; foreign-key triggers are ~60% of the edges
  insert, three a row); key lookups now pass one array (= ANY): psycopg
  parsed the 900-placeholder text at every call (1.09 -> 0.58 s).
  Tried, dropped: a None/Boolean shortcut in the generated row converters
  (-0.9%, under the bar). Not done: dataclass records built positionally
  (Account: 11k -> 4.5k instructions, fragile against the model), the
  Counter in Prep.take (~0.9%; history code, changed elsewhere), another
  hash or zstd level (changes stored hashes or bytes).
  Session 13 (a fast, quiet spell at the end: load 0.3, naive 143,783
  posts/s), after raw records moved to the batch that holds their last
  record (crash consistency), the run caches capped at 150,000 entries and
  the other formats' parsers tuned: 200k posts 23,948/s (0.17x; 1 process
  16,087/s; re-ingest 24,858/s; 13,577 posts per CPU-second; peak RSS 193 +
  84 MB; floor 0.58x); per post naive 7.0 us, parse 11.6, SQLite floor 12.1,
  ingest 41.8 (1 process 62.2). --size-gb 1.0 --skip-one (1.1M posts):
  24,026/s (0.15x; naive 165,389/s), re-ingest 27,572/s, floor 0.36x, peak
  RSS 243 + 84 MB (was 298-307 + 81-84 with caps of 400,000). A/B against
  the session's start ce4b69c (50k posts, 2 pairs alternated): 2 processes
  23,143 / 25,560 old, 21,526 / 26,253 new (noise). New --users N: with
  --users 1000000 --posts 600000 (561 MB, ~0.9 new accounts a post, the
  shape of a keyword crawl) the caps of 400,000 left the writer at 432 MB
  and the parser at 212 MB; with 150,000, 313 + 129 MB and 8,797 against
  7,749 posts per CPU-second. That shape is rasd's slow case: 13,064
  posts/s, the SQLite floor alone 31.9 us a post (accounts' indexes).
  Session 14 (PostgreSQL 15, server on the same machine; the host was loaded
  9-11 on its 2 cores all session: compare within alternated pairs), with
  the new --pg-only (no SQLite runs) and the server's CPU time (the store's
  backends, read from /proc). EXPLAIN ANALYZE of the writer's INSERT ...
  SELECT (20k posts, 8 batches): the foreign-key checks were ~70% of the
  posts and ~85% of the edges inserts, ~50 us each, because the sessions set
  plan_cache_mode = force_custom_plan (so that no prepared lookup kept a
  generic plan chosen while the tables were empty), and that applies to the
  checks' own cached plans too: every check was planned again (a table of
  20k rows, one key each: 1.1-1.5 s against 0.5-0.7 s in "auto", 0.15-0.27
  s without the key). Now plan_cache_mode is "auto" and psycopg prepares none
  of rasd's statements (the same protection for the lookups), except the
  executemany of upsert (values, an UPDATE by id; unprepared, an UPDATE of
  3,000 accounts cost the server ~2x). --pg-only --posts 20000, old/new
  alternated 3 times: ingest 24.9 / 17.5 / 17.7 s against 13.0 / 11.4 /
  12.0 s; the server's CPU 3.84 / 3.15 / 3.34 s against 1.70 / 1.69 / 1.68
  s; re-ingest 10.8 / 7.3 / 7.8 s against 6.3 / 6.9 / 7.1 s; the stores
  identical by natural keys (killpoints.dump). The checks are still ~50% of
  those inserts (~25 us each under that load); none is redundant: the ids
  come from the writer's caches, kept across batches, and the keys are what
  catches a cache that outlived its row. Tried, not kept: no ON CONFLICT for
  posts and accounts (the writer holds the write lock and looked them up),
  and COPY straight into them with ids drawn from their sequences (no
  staging table): the server's CPU within the noise (1.9-3.0 s for all
  three, 3 rounds); key lookups as one probe per key (unnest + LATERAL):
  with no statistics yet the planner probed the (platform, handle_key)
  index on platform alone, 900 times: 4 s a lookup (= ANY scans the
  platform's rows once at worst). Not done: those lookups scan the table
  while it has no statistics (a fresh store's first minute, until
  autovacuum: 15-35 ms a lookup at 20k posts, ~1 s of that ingest), and
  after an ANALYZE the planner still prefers the scan to 900 index probes
  below ~30k rows (random_page_cost 4); 3-5 ms with the index.
  Session 15 (PostgreSQL 15 on the same machine, autovacuum off there; load
  7.5-10 on its 2 cores all session), the key lookups: without statistics the
  planner read the platform's every row through an index on platform alone
  (posts: uq_posts_platform on its first column, then a filter; accounts:
  ix_accounts_handle_key), ~5-17 ms a lookup at 20k rows. Now the writer
  ANALYZEs the lookup tables that hold rows but were never analyzed, before a
  batch's lookups (Store.analyze_new: a fresh store's at its second batch,
  2.5k posts: 60-170 ms in all for the five tables that had rows, under that
  load; once; the planner scales what it learns as the table grows), and each
  lookup runs with SET LOCAL enable_seqscan = off, set back after it, in one
  psycopg pipeline with it (sent as three statements, the two settings cost
  what the lookup did). Server time of a 900-key lookup at 20k posts once
  analyzed: sequential scan (the planner's choice) 4.6 ms, the unique index
  1.0 ms (keys not stored) to 2.8 ms (stored). The planner still reads a small
  table's whole index on platform where the keys are a large part of it (900
  keys at 2.5k rows: 1.0-1.9 ms, the scan 1.3-1.6 ms). --pg-only --posts
  20000, old/new alternated 4 times: the server's CPU for the ingest 1.52 /
  1.52 / 1.59 / 1.61 s against 1.90 / 1.56 / 1.70 / 1.70 s (the ANALYZE is in
  there), for the re-ingest 0.31 / 0.32 / 0.35 / 0.33 against 0.16 / 0.14 /
  0.16 / 0.16 s; wall times noise (6.8-11.5 s both). 1 process, alternated 3
  times: server 1.68 / 1.71 / 2.10 against 1.54 / 1.68 / 1.72 s, re-ingest
  0.31 / 0.35 / 0.37 against 0.18 / 0.16 / 0.15 s; the stores identical by
  natural keys (killpoints.dump). Not explained: the client's CPU (both
  processes) read 5-10% higher with the new code in all four 2-process pairs
  (9,303-10,259 posts per CPU-s against 8,528-9,232), where 1 process showed
  none (1.86 / 1.91 / 2.47 s against 1.88 / 2.08 / 2.10 s) and a lookup of 900
  keys costs the client ~1-1.5 ms with or without the settings' pipeline
  (perhaps the two processes overlapping more on 2 busy cores; the writing
  process alone, 100k posts: 3.76 / 4.64 s against 4.03 / 4.83 s). 100k posts,
  2 processes, 2 pairs: the server's CPU 7.65 / 9.22 s against 6.43 / 7.63 s,
  re-ingest 4.09 / 4.18 against 0.64 / 0.68 s (every lookup there a scan of
  the table before). Not kept: the statistics alone (the lookups still scanned
  up to ~30k rows: re-ingest lookups 743-761 ms against 434-566 ms in the
  pipeline, 20k posts); the pg_stats view to tell whether a table has
  statistics (~5 ms to plan, each batch; pg_class.reltuples instead, 0.3 ms).
  Then the media read back by media_key and the reply targets' authors by
  post id went that way too (fast_select_in). --pg-only --posts 20000, old/new
  alternated 4 times: server CPU 1.45 / 1.39 / 1.31 / 1.36 s against 1.41 /
  1.32 / 1.33 / 1.32 s (this file has no media, and its replies' targets are
  in the run: the media lookup never runs, the targets' once a run). The same
  file with a photo a tweet and every other tweet a reply to a post not
  stored, 5 pairs: server 1.86 / 1.85 / 1.96 / 2.01 / 2.04 against 1.85 /
  1.91 / 1.90 / 2.15 / 2.00 s (no change outside the noise); the client's CPU
  2.51 / 2.43 / 2.51 / 2.54 / 2.60 against 2.30 / 2.30 / 2.30 / 2.60 / 2.37 s
  (lower in 4 pairs of 5; perhaps SQLAlchemy's expansion of up to 900 IN
  parameters and its row objects, no longer made; not profiled).
  Session 15, SQLite (a medium spell: naive 118,274 posts/s; load 1.5 at
  start): 200k posts 19,646/s with 2 processes (0.17x; 1 process 12,567/s;
  re-ingest 20,362/s; 11,526 posts per CPU-s; floor 0.55x; peak RSS 192 + 79
  MB); per post naive 8.5 us, parse 17.7, floor 15.2, ingest 50.9 (1 process
  79.6). A/B against the session's first commit 7ba6827 (50k posts, 2
  processes, 6 alternated pairs of whole commands, farm-bench): wall ratio
  median 1.016 (0.93-1.10), cpu 1.019: no change outside the noise.
  Instructions a post (callgrind; 4,000 posts after a 2,000-post warm-up of
  the same file, so accounts are partly known, as mid-run): writing process
  320k (executemany 157k, of which SQLite's sqlite3_step 111k and the
  sqlite3 module's adapter lookups still 18k even with the identity adapters;
  pickle.loads 21k; Python ~130k), parsing process 302k. Halves timed apart
  (50 batches of 1,000 posts): the parser's batches 42-65 us a post, the
  writer's ~46; a simulation of the pipeline from those per-batch times,
  balanced, gives 2.44 s with no buffer between the processes, 2.33 s with one
  frame, 2.30 s with two or more (ideal 2.22 s): the pipe and the child's 1 MiB
  write buffer already hold one to two frames, and a read-ahead thread of up to
  8 MiB in the parent (tried, reverted) showed nothing in 6 alternated pairs.
  Where 0.5x stands: the floor alone is 15.2 us a post against naive's 8.5 us
  in total, so 0.5x (17 us a post) leaves ~2 us a post for everything rasd's
  writer does besides SQLite's own inserts, and for the parser, which already
  takes 17.7 us alone; both halves need ~3x fewer instructions, which Python
  code does not reach (see session 12's per-phase counts).
  --size-gb 1.0 --skip-one (1.1M posts; a helper's PostgreSQL benchmark ran
  beside it, load ~2): 2 processes 11,980/s (0.10x; naive 120,024/s),
  re-ingest 17,787/s, floor 0.36x, peak RSS 240 + 80 MB (goal < 500 MB: met).
  Also: python-zstandard's compress returned the compressed bytes in a buffer
  the size of its input, so a batch's raw records held as much memory as the
  raw input until written; store.compress copies them out (a test holds it).
  Session 14, SQLite, a slow spell (naive 58-70k posts/s against ~145k in a
  quiet one; load 0.1 at start), after raw bytes stopped being held across
  batches (a batch also goes out at 32 MiB of raw input) and the archive,
  CSV and JSON hardening: 200k posts 12,868/s with 2 processes (0.19x naive;
  1 process 11,706/s; re-ingest 15,075/s; floor 0.65x; peak RSS 193 + 84 MB;
  per post naive 14.8 us, parse 21.6, floor 22.8, ingest 77.7). --posts
  50000 against the session's first commit (23b492e), alternated twice:
  2 processes 11,160 / 12,085 old against 12,227 / 12,311 new posts/s,
  1 process 7,740 / 7,753 against 9,172 / 9,562, re-ingest 13,697 / 14,860
  against 14,148 / 14,111: no loss; the ratio is where it was (0.17-0.21x).
  Session 16, PostgreSQL (the host loaded 5-8.5 on its 2 cores: wall times
  noise), after the writer's other lookups by key went the way of session
  12's (fast_select_in: raw records by hash, follows and notices by
  dedup_key, events, accounts by handle, media without a file, posts read
  back): --pg-only --posts 20000, old/new alternated 3 times: server CPU
  1.14 / 1.11 / 1.13 s against 1.09 / 1.09 / 1.12 s, re-ingest 0.10 / 0.12 /
  0.13 against 0.12 / 0.13 / 0.12 s (pages of 100 tweets: a raw record a
  page, so the changed lookups barely run). --flat (a tweet a line, every one
  a raw record looked up by hash, with follow and compliance lines), 3 pairs:
  server 1.57 / 1.60 / 1.62 against 1.66 / 1.59 / 1.56 s, re-ingest 0.27 /
  0.26 / 0.28 against 0.20 / 0.20 / 0.21 s (-25%), the client's 8,015 /
  8,417 / 8,085 posts per CPU-s against 8,369 / 8,346 / 8,803. Stores
  identical by natural keys (killpoints.dump; pages, flat and Telegram
  files, read twice, SQLite and PostgreSQL, 1 and 2 processes).
  Session 16, SQLite (a fast, quiet spell at the start: load 0.7, naive
  164,667 posts/s, "parse only" 93,012/s), the code of session 15's end
  (423804d): 200k posts 26,196/s with 2 processes (0.16x; 1 process 20,074/s;
  re-ingest 30,760/s; 15,055 posts per CPU-s; peak RSS 192 + 79 MB); per
  post naive 6.1 us, parse 10.8, SQLite floor 15.9 (0.38x naive: 7.3 us of
  it inserts, by table posts 4.3, edges 1.8, accounts 0.6, the rest the
  deferred indexes built again and the commits), ingest 38.2 (1 process
  49.8). The session's final code (f3cfc94; load 2.2, naive 170,724/s):
  2 processes 30,791 posts/s (0.18x; 1 process 23,662/s; re-ingest
  35,749/s; 18,212 posts per CPU-s; peak RSS 193 + 79 MB); per post naive
  5.9 us, parse 10.7, SQLite floor 11.5 (0.51x naive), ingest 32.5 (1
  process 42.3). The floor alone, the rows rasd keeps written by nothing
  but executemany, read 0.38x and 0.51x naive in these two runs an hour
  apart: at or below 0.5x, so the goal leaves no room for anything a writer
  does besides those inserts, native or not, unless the rows themselves
  (their secondary indexes, edges, hashtags, urls) shrink.
  Session 17, PostgreSQL (the host loaded 9-14 on its 2 cores all along:
  wall times noise), after the lookups of a batch's new posts' stored
  deletions and of the stored rows and versions of changed or late copies
  went the way of session 16's (fast_select_in, typed): --pg-only --posts
  20000 --late (then an older copy of the file: every post and profile a
  copy read late), old/new alternated 3 times: server CPU for the ingest
  2.57 / 3.09 / 1.64 against 2.32 / 3.15 / 1.64 s, for the older copy 2.21 /
  3.67 / 2.14 against 2.14 / 3.14 / 2.03 s. --flat --late, 6 pairs: ingest
  2.75 / 3.78 / 2.47 / 2.70 / 2.59 / 2.36 against 3.23 / 2.46 / 2.79 / 2.71 /
  2.80 / 2.73 s, older copy 2.77 / 3.43 / 2.91 / 2.68 / 2.77 / 2.46 against
  3.32 / 3.20 / 3.75 / 2.68 / 2.32 / 2.94 s: no difference outside the noise,
  which the re-ingest (none of the changed lookups runs there) shows as
  large: 0.36 / 0.36 / 0.30 / 0.31 / 0.32 / 0.25 against 0.38 / 0.30 / 0.37
  / 0.40 / 0.31 / 0.38 s. Timed inside the writer instead (the changed
  methods wrapped, --flat 20k then its older copy, 2 processes, 3 pairs):
  _deleted_before 1.18-1.30 s wall (0.17-0.19 s CPU) against 0.16-0.32 s
  (0.03-0.05); the stored posts 1.61-2.21 (0.21-0.28) against 0.48-1.01
  (0.07-0.11); the stored accounts 0.92-2.12 (0.14-0.23) against 0.53-0.71
  (0.05-0.07); _late, its versions' lookup with the placing and the UPDATE
  of the versions moved, 4.9-10.0 (1.05-1.55) against 3.4-5.7 (0.61-0.91).
  A lookup of 900 random keys alone (240 each way, alternated): deletions
  56.1 -> 12.9 ms wall (server CPU 2.29 -> 1.08 ms, client 11.7 -> 2.3),
  stored posts 70.5 -> 28.5 (8.3 -> 5.8, 13.0 -> 3.8), post versions 71.1 ->
  28.3 (5.8 -> 4.6, 11.9 -> 4.2); on SQLite 23.7 -> 6.2, 73.8 -> 66.6 and
  82.2 -> 72.9 ms wall. Stores identical by natural keys (killpoints.dump;
  notices first, a flat file, its older copy, pages and their older copy,
  the flat file again; SQLite and PostgreSQL, old and new).
  Session 17, SQLite (a slow spell of the host all session: naive 91-107k
  posts/s against 165-171k in session 16's quiet one): the session's start
  (9981145, load 0.96): 200k posts 13,800/s with 2 processes (0.15x; 1
  process 14,127/s; re-ingest 18,273/s; floor 0.56x; peak RSS 192 + 79 MB);
  per post naive 11.0 us, parse 22.3, floor 19.7, ingest 72.5. After the
  lone-CR first-line reading (X v2 pages now pass through _first_lines: an
  LF past the 64 KiB peek) and the decompression budget (557650f, load
  0.99): 16,958/s (0.16x; 1 process 13,774/s; re-ingest 23,467/s; floor
  0.43x; peak RSS 193 + 79 MB); per post naive 9.3, parse 19.1, floor 21.8,
  ingest 59.0: the same ratio to naive, no loss. --size-gb 1.0 --skip-one
  (1.1M posts, the machine loaded to 11 by other work: speeds meaningless):
  peak RSS 237 + 80 MB (goal < 500 MB: met).
  Session 18, SQLite: the session's start (a045b5d, a quiet machine, load
  0.39): 200k posts 20,291/s with 2 processes (0.18x; naive 114,331/s; 1
  process 14,412/s; re-ingest 18,888/s; 12,079 posts per CPU-s; floor 0.47x;
  peak RSS 192 + 80 MB); per post naive 8.7 us, parse 14.8, floor 18.5,
  ingest 49.3. The floor taken apart (200k posts replayed, indexes deferred):
  inserts 8.2 us a post (posts 4.8, edges 1.9, accounts 0.8), commits 5.5
  (WAL checkpoints at commit: rasd runs them in a background thread), the
  deferred indexes built again 2.8 (posts' created_at 1.1, edges' src 0.8,
  posts' account 0.5). A py-spy profile of the 1-process ingest found no
  single hot spot: executemany 15% of samples (self), orjson 6%, the
  checkpoint thread 8%, the rest spread over parsing (X pages 15%) and the
  writer's Python. After the session's merges (271fa36: the parsers' fuzz
  fixes on the hot path, the PostgreSQL writer's array statements; load
  2.9): 19,776/s (0.16x; naive 121,131/s; re-ingest 23,056/s; floor 0.53x;
  peak RSS 193 + 80 MB): the same ratio, no loss.
  Later, PostgreSQL (the host loaded 8-13), after the UPDATEs of the versions
  and current copies that late copies move became one UPDATE ... FROM
  unnest(arrays) a table and batch, and the delete of changed posts' waiting
  links one = ANY(array): --pg-only --late --posts 20000, old/new alternated
  3 times: server CPU for the older copy 1.89 / 1.87 / 2.00 against 1.65 /
  1.84 / 2.34 s, --flat 2.25 / 2.71 / 2.41 against 2.09 / 2.49 / 2.46 s:
  noise, as it must be, for the older copy only adds versions (it moves
  none and changes no post). Timed inside the writer, one process, the same
  20k posts read then older, older still, between, and changed (every
  version moved, every post changed), 3 pairs each of pages and --flat:
  the server's CPU for the UPDATEs 4.25-6.05 s against 1.33-1.87 s, wall
  13.7-21.0 against 5.1-6.1 s, the client's CPU 1.09-1.42 against 0.21-0.38
  s; the deletes 0.45-0.68 against 0.07-0.15 s wall (docs/ingest.md).
What made the difference: a second process (parse + prepare in one, write in
the other: ~1.5x on this machine, where two busy processes run ~10% slower
each than one alone; the hand-over costs CPU: 11,900-12,900 posts per
CPU-second against ~13,100-13,500 for one process); deferring the secondary indexes of a big load
(SQLite floor at 200k posts 30 -> 20 us/post, at 1 GB far more); WAL
checkpoints in a background thread (~15% of writing time was checkpoint
fsyncs); binding None/bool without sqlite3's adapter lookup (which raised and
cleared two exceptions per NULL); SQLite DATETIME/JSON conversion in C.
Why 0.5x naive is out of reach: the naive baseline parses with json.loads and
inserts 4 columns into one table (~8 us/post). Parsing alone costs rasd ~15
us/post, and the SQLite floor (the rows rasd stores, replayed with nothing but
executemany, indexes deferred as rasd does) ~13 us/post: 28 us of CPU per
post before hashing, history checks, lookups, stubs or the hand-over between
processes, i.e. >= 14 us/post on two perfectly shared cores = 0.55x naive
for a hypothetical ingest that did no work beyond parsing and inserting.
What rasd does besides (content hashes for idempotency and history, stale-copy
rules, account stubs and name resolution, raw records) brings it to ~45
us/post. Reaching 0.5x would take a parser and writer outside Python.
Tried, not kept: a byte-keyed memo of includes.users objects (slower: hashing
the object costs what mapping it does); converting rows to driver values in the
parsing process (it is the busier one); smaller first batches to start
writing sooner, other batch sizes (no difference outside noise); pickle's
fast mode (5x slower without its memo); marshal instead of pickle (it needs
every datetime as text; measured gain a few percent); PRAGMA synchronous=OFF, foreign_keys=OFF
(not safe; no clear gain). Measured 2026-11-29 (session 3), also short of 0.5x: letting SQLite do the
mapping in C (insert each page's posts with json_each and ->> from the raw line,
no Python per post) stored the posts table alone at 20.8 us/post against 13.0
for the naive baseline in the same process (0.62x), before accounts, edges,
hashtags, hashes or raw records (SQLite 3.40: every ->> parses the page
again). The hand-over between the processes: pickling a 5,000-post batch
costs ~5.8 us/post to write and ~4 us/post to read (min of 9, in a slow
spell); items now cross as plain tuples (was ~8.1 and ~4.3 with a reduce per
item).
Session 21 (2026-12-01, a fast spell, load ~1.0) added the "design ceiling"
line: two processes overlapping perfectly, one doing nothing but parse, the
other nothing but the floor's executemany. 200k posts: naive 188,657 posts/s,
2 processes 28,681/s (0.15x; 1 process 20,130/s; re-ingest 30,676/s; peak RSS
193 + 80 MB), parse 9.9 us/post, floor 10.3 us/post -> ceiling 0.52x naive,
rasd at 29% of it. --size-gb 1.0 --skip-one (1.1M posts): 24,922/s (0.15x;
re-ingest 29,957/s; peak RSS 249 + 81 MB), floor 16.2 us/post -> ceiling 0.36x,
rasd at 40% of it. (Earlier the same day, a helper's tests beside it: ceiling
0.43-0.50x.) So 0.5x is at or past what this parser and these rows allow
even with no work of rasd's own beyond them (hashes, history, lookups,
counts, the hand-over): it needs a parser, and rows, of another kind.
Session 22 dropped accounts' (platform, handle) index (migration 0023: no
query reads it since handle_key). Keyword-crawl shape (--users 200000 --posts
100000 --skip-one, old/new alternated twice): SQLite floor for accounts 6.5 /
6.1 -> 5.5 / 5.1 us/post, whole floor 21.1 / 18.8 -> 16.8 / 16.1, ingest 56.5
/ 47.7 -> 48.8 / 44.2 us/post; ceiling 0.27 / 0.31x -> 0.33 / 0.37x.
Session 23 (2026-12-01, a slow spell: naive 88,291 posts/s against 188,657 in
session 21's fast one), --posts 50000: 2 processes 13,379/s (0.15x; 1 process
10,148/s, 0.11x; re-ingest 14,266/s; peak RSS 145 + 80 MB); per post naive
11.3 us, parse 20.1, floor 17.6, ingest 74.7 (1 process 98.5); ceiling 0.56x,
rasd at 27% of it: the same ratios as in fast spells.
Not tried: two parsing processes over byte ranges:
a record that changes within a file would end with whichever range committed
last, unlike a sequential ingest (last in file wins).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

WORDS = ("the of and to in is for on that with as are at this be by from was have not "
         "they news city report people day time world today state new video attack "
         "police said government week group says support join share read more").split()


def _tweet(rng: random.Random, tid: int, users: list[dict]) -> dict:
    author = rng.choice(users)
    n = rng.randint(8, 30)
    words = [rng.choice(WORDS) for _ in range(n)]
    ents: dict = {}
    text = " ".join(words)
    refs = []
    if rng.random() < 0.3:
        m = rng.choice(users)
        text = f"@{m['username']} " + text
        ents["mentions"] = [{"start": 0, "end": len(m["username"]) + 1,
                             "username": m["username"], "id": m["id"]}]
    if rng.random() < 0.3:
        tag = rng.choice(WORDS)
        text += f" #{tag}"
        ents["hashtags"] = [{"start": len(text) - len(tag) - 1, "end": len(text), "tag": tag}]
    if rng.random() < 0.2:
        url = f"https://t.co/{tid:x}"
        text += " " + url
        ents["urls"] = [{"start": 0, "end": 1, "url": url,
                         "expanded_url": f"https://example.org/a/{tid}"}]
    r = rng.random()
    if r < 0.2:
        refs = [{"type": "replied_to", "id": str(tid - rng.randint(1, 500))}]
    elif r < 0.4:
        refs = [{"type": "retweeted", "id": str(tid - rng.randint(1, 500))}]
    t = {"id": str(tid), "text": text, "author_id": author["id"],
         "created_at": f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T12:{rng.randint(10, 59)}:00.000Z",
         "conversation_id": str(tid), "lang": "en", "entities": ents,
         "public_metrics": {"retweet_count": rng.randint(0, 50), "reply_count": 0,
                            "like_count": rng.randint(0, 500), "quote_count": 0},
         "edit_history_tweet_ids": [str(tid)], "possibly_sensitive": False,
         "source": "Twitter for Android", "reply_settings": "everyone"}
    if refs:
        t["referenced_tweets"] = refs
    return t


TWARC = {"url": "https://api.x.com/2/tweets/search/all", "version": "2.14.0",
         "retrieved_at": "2024-10-01T00:00:00+00:00"}


def generate(path: Path, posts: int = 0, size_bytes: int = 0, seed: int = 7,
             n_users: int = 20_000, flat: bool = False) -> int:
    """Write v2 pages to ``path``; stop at ``posts`` tweets or ``size_bytes``;
    authors and mentions drawn from ``n_users`` accounts. ``flat``: twarc2's
    flattened lines instead, a tweet a line with its author inlined (a raw
    record a tweet, each looked up by its hash), and after every page's worth
    a user line of someone's following list (a follow edge, looked up by its
    dedup_key) and a compliance line deleting one of the page's tweets (a
    notice, looked up by its dedup_key)."""
    rng = random.Random(seed)
    users = [{"id": str(10_000 + i), "username": f"user_{i}", "name": f"User {i}",
              "description": " ".join(rng.choice(WORDS) for _ in range(12)),
              "created_at": "2015-03-01T00:00:00.000Z", "location": "somewhere",
              "public_metrics": {"followers_count": rng.randint(0, 10_000),
                                 "following_count": 10, "tweet_count": 100, "listed_count": 0},
              "verified": False, "protected": False} for i in range(n_users)]
    tid = 1_500_000_000_000_000_000
    n = 0
    size = 0
    with open(path, "w") as f:
        while (posts and n < posts) or (size_bytes and size < size_bytes):
            data = []
            for _ in range(100):
                tid += 1
                data.append(_tweet(rng, tid, users))
            if flat:
                lines = [json.dumps({**t, "author": users[int(t["author_id"]) - 10_000],
                                     "__twarc": TWARC}) for t in data]
                lines += [json.dumps({**u, "__twarc": {
                    **TWARC, "url": f"https://api.x.com/2/users/{data[0]['author_id']}/following"}})
                          for u in rng.sample(users, 5)]
                lines.append(json.dumps({"id": data[rng.randrange(100)]["id"],
                                         "action": "delete",
                                         "created_at": "2024-10-02T00:00:00.000Z"}))
                text = "\n".join(lines) + "\n"
                f.write(text)
                size += len(text)
                n += 100
                continue
            authors = {t["author_id"] for t in data}
            inc = [u for u in users if u["id"] in authors][:100] if len(authors) < 50 else \
                [users[int(a) - 10_000] for a in sorted(authors)[:100]]
            line = json.dumps({"data": data, "includes": {"users": inc},
                               "meta": {"result_count": 100}, "__twarc": TWARC})
            f.write(line + "\n")
            size += len(line) + 1
            n += 100
    return n


def older_copy(src: Path, dst: Path) -> None:
    """Write ``dst``: ``src`` as collected a day earlier, every tweet's text and
    every profile's bio changed, so that read after ``src`` each post and
    profile is a copy read late (its stored row and versions looked up, the
    copy placed in its history as a version). Lines without a collection
    time (compliance) are kept as they are."""
    def earlier(obj: dict) -> dict:
        tw = obj.get("__twarc")
        if not tw:
            return obj
        obj["__twarc"] = {**tw, "retrieved_at": "2024-09-30T00:00:00+00:00"}
        for t in obj.get("data") or ([obj] if "text" in obj else []):
            t["text"] = "earlier: " + t["text"]
        for u in (obj.get("includes") or {}).get("users") or \
                [u for u in (obj.get("author"), obj if "username" in obj else None) if u]:
            u["description"] = "earlier: " + u.get("description", "")
        return obj

    with open(src) as f, open(dst, "w") as out:
        for line in f:
            out.write(json.dumps(earlier(json.loads(line))) + "\n")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_s() -> float:
    """CPU seconds (user + system) of this process and its finished children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _peak_child_rss_mb() -> float:
    """Largest peak RSS of the (finished) child processes: rasd's parser."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def run_rasd(path: str, db: str, jobs: int) -> dict:
    from rasd.ingest import ingest_path
    from rasd.store import Store

    store = Store.open(db)
    t0, c0 = time.perf_counter(), _cpu_s()
    rep = ingest_path(store, path, jobs=jobs)
    dt, cpu = time.perf_counter() - t0, _cpu_s() - c0
    posts = rep.counts["by_kind"].get("posts", {}).get("new", 0)
    return {"seconds": dt, "cpu_seconds": cpu, "posts": posts, "posts_per_s": posts / dt,
            "peak_rss_mb": _peak_rss_mb(), "child_peak_rss_mb": _peak_child_rss_mb(),
            "counts": rep.counts}


def run_pg(path: str, url: str, late: str | None = None) -> dict:
    """rasd ingest (2 processes) into a fresh schema of the PostgreSQL server at
    ``url``, then the same file again (no-op), then (``late``) an older copy of
    it (``older_copy``); the schema is dropped after."""
    import uuid

    import sqlalchemy as sa

    from rasd.ingest import ingest_path
    from rasd.store import Store

    schema = "bench_" + uuid.uuid4().hex[:10]
    admin = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as c:
        c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        sep = "&" if "?" in url else "?"
        # named, so that the server's CPU time for its connections can be read
        store = Store.open(f"{url}{sep}options=-csearch_path%3D{schema}"
                           f"&application_name={schema}")
        s0 = _server_cpu_s(admin, schema)
        t0, c0 = time.perf_counter(), _cpu_s()
        rep = ingest_path(store, path, jobs=2)
        dt, cpu = time.perf_counter() - t0, _cpu_s() - c0
        s1 = _server_cpu_s(admin, schema)
        t1 = time.perf_counter()
        again = ingest_path(store, path, jobs=2)
        dt_again = time.perf_counter() - t1
        s2 = _server_cpu_s(admin, schema)
        t2 = time.perf_counter()
        older = ingest_path(store, late, jobs=2) if late else None
        dt_late = time.perf_counter() - t2
        s3 = _server_cpu_s(admin, schema)
        store.close()
    finally:
        with admin.begin() as c:
            c.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    posts = rep.counts["by_kind"].get("posts", {}).get("new", 0)
    server = None if None in (s0, s1, s2, s3) else (
        s1 - s0, s2 - s1, s3 - s2)  # type: ignore[operator]
    return {"seconds": dt, "cpu_seconds": cpu, "posts": posts, "posts_per_s": posts / dt,
            "again_seconds": dt_again, "again_new": again.counts["new"],
            "late_seconds": dt_late if late else None,
            "late_counts": older.counts["by_kind"] if older else None,
            "server_cpu_seconds": server,
            "peak_rss_mb": _peak_rss_mb(), "child_peak_rss_mb": _peak_child_rss_mb()}


def _server_cpu_s(admin: Any, name: str) -> float | None:
    """CPU seconds used so far by the PostgreSQL backends of the connections
    named ``name`` (application_name), read from /proc: a server on this
    machine, readable by this user; else None. A PostgreSQL ingest waits on
    the server for much of its time, and on a loaded machine the server's
    CPU time is a steadier measure of its work than the wall time."""
    import sqlalchemy as sa

    try:
        with admin.connect() as c:
            pids = [r[0] for r in c.execute(sa.text(
                "SELECT pid FROM pg_stat_activity WHERE application_name = :n"), {"n": name})]
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in pids:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        return total
    except (OSError, ValueError, sa.exc.SQLAlchemyError):
        return None


def run_floor(path: str, db: str) -> dict:
    """The SQLite floor: replay the rows a rasd ingest stored (``path`` is that
    store) into a fresh store with the same schema and settings (and the same
    index deferral), with nothing but ``executemany`` and a commit per 5,000
    posts' worth of rows: no parsing, no Python work per field, no lookups.
    No ingest that stores the same rows through one SQLite writer can be
    faster than this. (It holds all rows in memory: its RSS is not rasd's.)"""
    import sqlite3
    from contextlib import ExitStack

    from rasd.ingest.runner import bulk_load_pays
    from rasd.store import Store

    store = Store.open(db)  # the schema, migrated
    # rasd's own settings, and its index deferral where rasd would defer
    deferral = ExitStack()
    if bulk_load_pays(store, (Path(path).parent / "tweets.jsonl").stat().st_size):
        deferral.enter_context(store.bulk_load())
    src = sqlite3.connect(path)
    dst = sqlite3.connect(db, isolation_level=None)
    dst.execute("PRAGMA journal_mode=WAL")
    dst.execute("PRAGMA synchronous=NORMAL")
    dst.execute("PRAGMA cache_size=-65536")
    dst.execute("PRAGMA wal_autocheckpoint=10000")
    tables = ["raw_records", "accounts", "posts", "hashtags", "urls", "media", "post_media",
              "edges"]
    data = {t: src.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in tables}
    posts = len(data["posts"])
    chunks = max(1, posts // 5000)
    per_table = dict.fromkeys(tables, 0.0)
    t0 = time.perf_counter()
    for k in range(chunks):
        dst.execute("BEGIN IMMEDIATE")
        for t in tables:
            rows = data[t]
            part = rows[k * len(rows) // chunks:(k + 1) * len(rows) // chunks]
            if part:
                t1 = time.perf_counter()
                dst.executemany(f"INSERT INTO {t} VALUES ({','.join('?' * len(part[0]))})",
                                part)
                per_table[t] += time.perf_counter() - t1
        dst.execute("COMMIT")
    deferral.close()  # the deferred indexes built again, timed, as in an ingest
    dt = time.perf_counter() - t0
    store.close()
    return {"seconds": dt, "posts": posts, "posts_per_s": posts / dt,
            "peak_rss_mb": _peak_rss_mb(),
            "us_per_post": {t: round(v * 1e6 / max(posts, 1), 1) for t, v in per_table.items()},
            "rows_per_post": {t: round(len(data[t]) / max(posts, 1), 2) for t in tables}}


def run_naive(path: str, db: str) -> dict:
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE tweets (id TEXT PRIMARY KEY, author_id TEXT, text TEXT, "
                "created_at TEXT)")
    t0, c0 = time.perf_counter(), _cpu_s()
    n = 0
    with open(path, "rb") as f:
        for line in f:
            page = json.loads(line)
            rows = [(t["id"], t.get("author_id"), t.get("text"), t.get("created_at"))
                    for t in page.get("data", [])]
            con.executemany("INSERT OR IGNORE INTO tweets VALUES (?,?,?,?)", rows)
            n += len(rows)
    con.commit()
    dt, cpu = time.perf_counter() - t0, _cpu_s() - c0
    return {"seconds": dt, "cpu_seconds": cpu, "posts": n, "posts_per_s": n / dt,
            "peak_rss_mb": _peak_rss_mb()}


def run_parse(path: str) -> dict:
    """The X parser alone (orjson, mapping to records, raw sha256): the part of
    the ingest that no store tuning can remove."""
    from rasd.ingest.base import RawSink, get_parser
    from rasd.ingest.runner import relaxed_gc

    sink = RawSink()
    t0 = time.perf_counter()
    n = 0
    with relaxed_gc():
        for rec in get_parser("x").parse(Path(path), sink):
            n += type(rec).__name__ == "Post"
            if n % 5000 == 0:
                sink.drain()
    dt = time.perf_counter() - t0
    return {"seconds": dt, "posts": n, "posts_per_s": n / dt, "peak_rss_mb": _peak_rss_mb()}


def child(kind: str, path: str, db: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, path, db],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _row(name: str, r: dict, rss: str | None = None) -> str:
    mem = rss if rss is not None else f"{r['peak_rss_mb']:,.0f}"
    cpu = r.get("cpu_seconds")
    per_cpu = f"{r['posts'] / cpu:>12,.0f}" if cpu else f"{'':>12}"
    return f"{name:26}{r['posts_per_s']:>12,.0f}{r['seconds']:>10.2f}{per_cpu}{mem:>16}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--posts", type=int, default=200_000)
    ap.add_argument("--size-gb", type=float, default=0.0,
                    help="generate a file of this size instead of --posts")
    ap.add_argument("--users", type=int, default=20_000,
                    help="distinct accounts the posts are drawn from (default 20,000; a "
                         "search crawl meets mostly new ones: try 1000000 for the "
                         "writer's caches at their cap)")
    ap.add_argument("--flat", action="store_true",
                    help="twarc2's flattened lines (a tweet a line), with follow and "
                         "compliance lines: every tweet a raw record of its own")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--keep", action="store_true", help="keep the temporary files")
    ap.add_argument("--skip-one", action="store_true",
                    help="skip the one-process ingest (saves time on big files)")
    ap.add_argument("--pg", metavar="URL",
                    help="also ingest into this PostgreSQL server (a fresh schema, dropped "
                         "after; the client's CPU time only: the server's is not counted "
                         "there, but shown apart where the server runs on this machine)")
    ap.add_argument("--pg-only", action="store_true",
                    help="with --pg: only the PostgreSQL ingest (no SQLite runs)")
    ap.add_argument("--late", action="store_true",
                    help="with --pg: then ingest an older copy of the file there (collected "
                         "a day earlier, texts and bios changed): every post and profile a "
                         "copy read late")
    a = ap.parse_args()
    if (a.pg_only or a.late) and not a.pg:
        ap.error("--pg-only and --late need --pg URL")
    if a.child:
        kind, path, db = a.child
        if kind.startswith("rasd"):
            res = run_rasd(path, db, jobs=int(kind[-1]))
        elif kind == "parse":
            res = run_parse(path)
        elif kind == "floor":
            res = run_floor(path, db)
        elif kind in ("pg", "pg-late"):
            late = None
            if kind == "pg-late":
                late = str(Path(path).with_suffix(".older.jsonl"))
                older_copy(Path(path), Path(late))
            res = run_pg(path, db, late)
        elif kind == "gen":  # db: "POSTS SIZE_BYTES USERS FLAT"
            posts, size_bytes, users, flat = map(int, db.split())
            res = {"posts": generate(Path(path), posts=posts, size_bytes=size_bytes,
                                     n_users=users, flat=bool(flat))}
        else:
            res = run_naive(path, db)
        print(json.dumps(res, default=str))
        return
    tmp = Path(tempfile.mkdtemp(prefix="rasd-bench-"))
    data = tmp / "tweets.jsonl"
    t0 = time.perf_counter()
    # generated in a child process: Linux keeps a process's peak RSS across
    # fork and exec, so every measured child would report this one's (the
    # generator's user table: ~800 MB at --users 1000000) as its own
    n = child("gen", str(data), f"{0 if a.size_gb else a.posts} {int(a.size_gb * 2**30)} "
                                f"{a.users} {int(a.flat)}")["posts"]
    size_mb = data.stat().st_size / 2**20
    print(f"generated {n:,} posts in {size_mb:,.0f} MB ({time.perf_counter() - t0:.1f}s): {data}")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    if a.pg_only:
        pg = child("pg-late" if a.late else "pg", str(data), a.pg)
        print(f"{'':26}{'posts/s':>12}{'seconds':>10}{'per CPU-s':>12}{'peak RSS MB':>16}")
        _print_pg(pg, n)
        _clean(tmp, a.keep)
        return
    naive = child("naive", str(data), str(tmp / "naive.db"))
    parse = child("parse", str(data), "-")
    two = child("rasd2", str(data), str(tmp / "rasd.db"))
    again = child("rasd2", str(data), str(tmp / "rasd.db"))  # idempotent re-run
    one = None if a.skip_one else child("rasd1", str(data), str(tmp / "rasd1.db"))
    floor = child("floor", str(tmp / "rasd.db"), str(tmp / "floor.db"))
    pg = child("pg-late" if a.late else "pg", str(data), a.pg) if a.pg else None
    print(f"{'':26}{'posts/s':>12}{'seconds':>10}{'per CPU-s':>12}{'peak RSS MB':>16}")
    print(_row("naive baseline", naive))
    print(_row("rasd parse only", parse))
    print(_row("rasd ingest, 2 processes", two,
               f"{two['peak_rss_mb']:,.0f} + {two['child_peak_rss_mb']:,.0f}"))
    if one is not None:
        print(_row("rasd ingest, 1 process", one))
    print(_row("rasd re-ingest (no-op)", {**again, "posts": n,
                                          "posts_per_s": n / again["seconds"]},
               f"{again['peak_rss_mb']:,.0f} + {again['child_peak_rss_mb']:,.0f}"))
    print(_row("SQLite floor (replay)", floor))
    if pg is not None:
        _print_pg(pg, n)
    print(f"ratio rasd/naive: {two['posts_per_s'] / naive['posts_per_s']:.2f}x with 2 processes"
          + (f", {one['posts_per_s'] / naive['posts_per_s']:.2f}x with 1" if one else "")
          + f"; SQLite floor/naive: {floor['posts_per_s'] / naive['posts_per_s']:.2f}x")
    print("goals: >= 20,000 posts/s on 2 cores; >= 0.5x naive; peak RSS < 500 MB")
    us = 1e6 / n
    print(f"per post: naive {naive['seconds'] * us:.1f} us, parse {parse['seconds'] * us:.1f} us, "
          f"SQLite floor {floor['seconds'] * us:.1f} us, ingest {two['seconds'] * us:.1f} us"
          + (f" (1 process {one['seconds'] * us:.1f} us)" if one else ""))
    print("SQLite floor by table, us/post (rows/post): " + ", ".join(
        f"{t} {v} ({floor['rows_per_post'][t]})" for t, v in floor["us_per_post"].items()))
    # the best two processes could do with this parser and these rows: the
    # parsing process doing nothing but parse, the writing one nothing but
    # the floor's executemany, overlapping perfectly (wall = the slower one)
    ceiling = max(parse["seconds"], floor["seconds"])
    print(f"design ceiling (2 processes: parse alone beside the floor alone, nothing else): "
          f"{n / ceiling:,.0f} posts/s = {naive['seconds'] / ceiling:.2f}x naive; rasd reaches "
          f"{ceiling / two['seconds']:.0%} of it")
    print(f"re-ingest counts: new {again['counts']['new']}, "
          f"unchanged {again['counts']['unchanged']}")
    _clean(tmp, a.keep)


def _print_pg(pg: dict, n: int) -> None:
    print(_row("rasd into PostgreSQL", pg,
               f"{pg['peak_rss_mb']:,.0f} + {pg['child_peak_rss_mb']:,.0f}"))
    print(_row("PostgreSQL re-ingest", {**pg, "posts": n, "cpu_seconds": None,
                                        "seconds": pg["again_seconds"],
                                        "posts_per_s": n / pg["again_seconds"]}, ""))
    if pg.get("late_seconds") is not None:
        print(_row("PostgreSQL older copy", {**pg, "posts": n, "cpu_seconds": None,
                                             "seconds": pg["late_seconds"],
                                             "posts_per_s": n / pg["late_seconds"]}, ""))
        print(f"older copy counts: {pg['late_counts']}")
    if pg.get("server_cpu_seconds"):
        first, again, late = pg["server_cpu_seconds"]
        print(f"PostgreSQL server CPU (the store's backends): ingest {first:.2f} s, "
              f"re-ingest {again:.2f} s"
              + (f", older copy {late:.2f} s" if pg.get("late_seconds") is not None else ""))


def _clean(tmp: Path, keep: bool) -> None:
    if not keep:
        for p in tmp.iterdir():
            p.unlink()
        tmp.rmdir()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
