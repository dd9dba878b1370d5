-- N deterministic companies: {{ var('rows') }} rows from DuckDB's range().
-- bump: 1 adds 1 to the Arr of every 100th row (a 1% change; Mrr follows Arr).
with src as (
    select
        i,
        cast(1000 + (i % 997) * 100 + case when {{ var('bump') }} = 1 and i % 100 = 0 then 1 else 0 end
            as decimal(14, 2)) as arr
    from range({{ var('rows') }}) as t(i)
)
select
    i as company_id,
    'Bench Company ' || lpad(cast(i as varchar), 8, '0') as company_name,
    arr,
    cast(round(arr / 12, 2) as decimal(14, 2)) as mrr,
    cast(10 + (i * 7) % 5000 as integer) as employees,
    cast(date '2026-01-01' + cast(i % 365 as integer) as date) as renewal_date,
    ['Software', 'Healthcare', 'Financial Services', 'Retail', 'Manufacturing',
     'Education', 'Media', 'Telecommunications'][1 + cast(i % 8 as integer)] as industry
from src
