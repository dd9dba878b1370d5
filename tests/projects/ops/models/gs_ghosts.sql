-- 8 companies Gainsight does not have: update_only rejects each one (NOT_FOUND).
select 'Ghost Co ' || lpad(cast(i as varchar), 2, '0') as company_name, cast(i as integer) as employees
from range(1, 9) as t(i)
