-- 30 companies to upsert.
select
    'Ops Co ' || lpad(cast(i as varchar), 3, '0') as company_name,
    cast(i * 1000 as decimal(14, 2)) as arr,
    date '2026-01-01' + cast(i as integer) as renewal_date,
    cast(i as integer) as employees
from range(1, 31) as t(i)
