-- N deterministic companies: {{ var('rows') }} rows (DuckDB's range(), Postgres' generate_series()).
-- bump: 1 adds 1 to the Arr of every 100th row (a 1% change; Mrr follows Arr).
with src as (
    select
        i,
        cast(1000 + (i % 997) * 100 + case when {{ var('bump') }} = 1 and i % 100 = 0 then 1 else 0 end
            as decimal(14, 2)) as arr
    {% if target.type == 'postgres' %}
    from generate_series(0, {{ var('rows') }} - 1) as t(i)
    {% else %}
    from range({{ var('rows') }}) as t(i)
    {% endif %}
)
select
    i as company_id,
    'Bench Company ' || lpad(cast(i as varchar), 8, '0') as company_name,
    arr,
    cast(round(arr / 12, 2) as decimal(14, 2)) as mrr,
    cast(10 + (i * 7) % 5000 as integer) as employees,
    cast(date '2026-01-01' + cast(i % 365 as integer) as date) as renewal_date,
    case cast(i % 8 as integer)
        when 0 then 'Software' when 1 then 'Healthcare' when 2 then 'Financial Services'
        when 3 then 'Retail' when 4 then 'Manufacturing' when 5 then 'Education'
        when 6 then 'Media' else 'Telecommunications'
    end as industry
from src
