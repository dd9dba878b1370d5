-- Two good rows, then one row per odd value (every other column of it is good).
with good as (
    select
        cast('good-1' as text) as key,
        cast('alpha' as text) as label,
        convert_to('héllo', 'UTF8') as blob,
        cast(null as jsonb) as doc,
        cast('{"plan": "pro"}' as jsonb)::text as doc_text,
        cast(1234.50 as numeric) as amount,
        cast(9007199254740991 as numeric) as big,
        cast(0.1 as float8) as ratio,
        cast(1.5 as float8) as score,
        cast('2026-11-27 13:45:00.123+01' as timestamptz) as happened,
        cast('2026-11-27' as date) as day,
        true as flag,
        array['software', 'Retail'] as tags,
        cast('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11' as uuid) as ident,
        cast(array['Retail', 'Software'] as segment[]) as segments,
        cast(array['Software'] as segment_code[]) as segment_codes
    union all
    select
        'good-2', 'Zoë ☃', null, null, null, 0.10, 1e20, -2.5, -0.25,
        cast('9999-12-31 18:00-05' as timestamptz), cast('0001-01-01' as date), false,
        array['Finance'], null, cast(array['Finance'] as segment[]),
        cast(array['Finance', 'Retail'] as segment_code[])
),
bad(key, column_name) as (
    values
        ('bad-bytea', 'blob'), ('bad-jsonb', 'doc'), ('bad-huge', 'amount'),
        ('bad-nan', 'amount'), ('bad-inf', 'ratio'), ('bad-end-of-time', 'happened'),
        ('bad-precision', 'big'), ('bad-tiny', 'big'), ('bad-text-nan', 'score'),
        ('bad-infinite-time', 'happened'), ('bad-infinite-day', 'day')
)
select * from good
union all
select
    bad.key,
    g.label,
    case when column_name = 'blob' then cast('\xfffe' as bytea) else g.blob end,
    case when column_name = 'doc' then cast('{"a": [1, 2]}' as jsonb) else g.doc end,
    g.doc_text,
    case column_name
        when 'amount' then (case bad.key when 'bad-huge' then cast('1e5000' as numeric)
                                          else cast('NaN' as numeric) end)
        else g.amount end,
    case bad.key
        when 'bad-precision' then cast('12345678901234567890.5' as numeric)
        when 'bad-tiny' then cast('1e-400' as numeric)
        else g.big end,
    case when column_name = 'ratio' then cast('Infinity' as float8) else g.ratio end,
    case when column_name = 'score' then cast('NaN' as float8) else g.score end,
    case bad.key
        when 'bad-end-of-time' then cast('9999-12-31 20:00-05' as timestamptz)
        when 'bad-infinite-time' then cast('-infinity' as timestamptz)
        else g.happened end,
    case when column_name = 'day' then cast('infinity' as date) else g.day end,
    g.flag,
    g.tags,
    g.ident,
    g.segments,
    g.segment_codes
from bad cross join (select * from good where key = 'good-1') as g
