-- 120 companies; row 77 is bad when var bad_row is 'lookup' or 'date'.
{%- set bad_row = var('bad_row', 'none') %}
select
    'Bad Records Co ' || lpad(cast(i as varchar), 3, '0') as company_name,
    cast(i * 1000 as decimal(14, 2)) as arr,
    {%- if bad_row == 'date' %}
    case when i = 77 then 'soon' else cast(date '2026-01-01' + cast(i as integer) as varchar) end
    {%- else %}
    cast(date '2026-01-01' + cast(i as integer) as varchar)
    {%- endif %} as renewal_date,
    {%- if bad_row == 'lookup' %}
    case when i = 77 then 'nobody@example.com' else 'ava.patel@example.com' end
    {%- else %}
    'ava.patel@example.com'
    {%- endif %} as csm_email,
    cast(i as integer) as employees
from range(1, 121) as t(i)
