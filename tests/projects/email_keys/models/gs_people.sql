-- carol twice in different case (one person to Gainsight), Bob as Gainsight already holds him
-- in another case, and dave once.
select 'carol@example.com' as email, 'Carol' as first_name
union all select 'CAROL@example.com', 'Caroline'
union all select 'bob@EXAMPLE.com', 'Bob'
union all select 'dave@example.com', 'Dave'
