-- Two good rows, then one row per odd value: a copy of good-1 with that one column spoilt.
with good as (
    select
        cast('good-1' as varchar) as key,
        cast('alpha' as varchar) as label,
        cast(9007199254740991 as hugeint) as huge,  -- 2**53 - 1: a double holds it
        cast(1234.5 as decimal(38, 10)) as precise,
        cast(0.1 as double) as ratio,
        cast(0.1 as real) as real_number,
        cast(0.1 as real) as real_text,
        cast('2026-11-27 13:45:00.123+01' as timestamptz) as happened,
        cast('2026-11-27 13:45:00.123456789' as timestamp_ns) as happened_ns,
        cast('2026-01-02 03:04:05' as timestamp) as happened_at,
        cast('2026-11-27' as date) as on_day,
        cast(1 as integer) as flag,
        true as bool_text,
        cast('13:45:00.5' as time) as clock,
        cast(null as interval) as span,
        cast('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11' as uuid) as ident,
        cast('h\xC3\xA9llo' as blob) as blob,
        cast('Retail' as enum('Software', 'Retail', 'Finance')) as segment,
        cast(['software', 'Retail'] as varchar[]) as tags,
        cast(['Retail', 'Software'] as enum('Software', 'Retail', 'Finance')[]) as segments,
        cast(null as struct(plan varchar, seats integer[])) as doc,
        cast(null as map(varchar, integer)) as attrs,
        cast('2026-01-02 03:04:05' as timestamp_s) as happened_s,
        cast('2026-11-27 13:45:00.123456789+01' as timestamptz_ns) as happened_tz_ns
    union all
    select
        'good-2',
        'Zoë 🎉 e' || chr(769) || ' ☃',  -- an emoji and a combining acute accent
        cast(100000000000000000000 as hugeint),  -- 1e20: beyond 2**53, yet a double exactly
        cast(-0.0000000001 as decimal(38, 10)),
        cast('-0.0' as double),
        cast(-2.5 as real),
        cast(-2.5 as real),
        cast('9999-12-31 18:00-05' as timestamptz),  -- 9999-12-31 23:00 UTC: still in range
        cast('2262-04-11 23:47:16.854775806' as timestamp_ns),  -- TIMESTAMP_NS's last instant
        cast('9999-12-31 23:59:59.999' as timestamp),  -- a real end of time, not infinity
        cast('0001-01-01' as date),  -- a real first day, not -infinity
        0,
        false,
        cast('00:00:00' as time),
        null,
        null,
        null,
        cast('Finance' as enum('Software', 'Retail', 'Finance')),
        ['Finance'],
        cast(['Finance'] as enum('Software', 'Retail', 'Finance')[]),
        null,
        null,
        cast('9999-12-31 00:00:00' as timestamp_s),  -- past 2262: a query error once
        null
),

bad as (
    select * from (values
        ('bad-huge-2p63'), ('bad-huge-2p53'), ('bad-decimal'), ('bad-nan'), ('bad-inf'),
        ('bad-end-of-time'), ('bad-infinite-time'), ('bad-infinite-ns'),
        ('bad-minus-infinite-at'), ('bad-infinite-day'), ('bad-minus-infinite-day'),
        ('bad-year-10000'), ('bad-bc-day'), ('bad-blob'), ('bad-interval'), ('bad-struct'),
        ('bad-map'), ('bad-tag'), ('bad-flag'), ('bad-infinite-tz-ns')
    ) as t(key)
)

select * from good
union all
select
    bad.key,
    g.label,
    case bad.key
        when 'bad-huge-2p63' then cast(9223372036854775809 as hugeint)  -- 2**63 + 1
        when 'bad-huge-2p53' then cast(9007199254740993 as hugeint)  -- 2**53 + 1
        else g.huge
    end,
    case bad.key
        when 'bad-decimal' then cast('12345678901234567890.0123456789' as decimal(38, 10))
        else g.precise
    end,
    case bad.key
        when 'bad-nan' then cast('nan' as double)
        when 'bad-inf' then cast('-inf' as double)
        else g.ratio
    end,
    g.real_number,
    g.real_text,
    case bad.key
        when 'bad-end-of-time' then cast('9999-12-31 20:00-05' as timestamptz)
        when 'bad-infinite-time' then cast('infinity' as timestamptz)
        else g.happened
    end,
    case bad.key
        when 'bad-infinite-ns' then cast('infinity' as timestamp_ns)
        else g.happened_ns
    end,
    case bad.key
        when 'bad-minus-infinite-at' then cast('-infinity' as timestamp)
        else g.happened_at
    end,
    case bad.key
        when 'bad-infinite-day' then cast('infinity' as date)
        when 'bad-minus-infinite-day' then cast('-infinity' as date)
        when 'bad-year-10000' then cast('10000-01-01' as date)
        when 'bad-bc-day' then cast('0044-03-15 (BC)' as date)
        else g.on_day
    end,
    case bad.key when 'bad-flag' then 2 else g.flag end,
    g.bool_text,
    g.clock,
    case bad.key when 'bad-interval' then interval '1 day 2 hours' else g.span end,
    g.ident,
    case bad.key when 'bad-blob' then cast('\xFF\xFE' as blob) else g.blob end,
    g.segment,
    case bad.key when 'bad-tag' then ['Retail', 'Mining'] else g.tags end,
    g.segments,
    case bad.key
        when 'bad-struct' then {'plan': 'pro', 'seats': [1, 2]}
        else g.doc
    end,
    case bad.key when 'bad-map' then map {'seats': 3} else g.attrs end,
    g.happened_s,
    case bad.key
        when 'bad-infinite-tz-ns' then cast('infinity' as timestamptz_ns)
        else g.happened_tz_ns
    end
from bad
cross join (select * from good where key = 'good-1') as g
