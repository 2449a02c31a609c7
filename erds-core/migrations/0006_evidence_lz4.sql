-- Evidence XML (about 9 KiB, compressing to about half) is compressed with lz4 instead of pglz:
-- the same storage for several times less CPU per inserted evidence (pglz_compress was about 4% of
-- the whole CPU of a submission benchmark). Rows already stored keep their pglz form; both read.
ALTER TABLE evidence ALTER COLUMN xml SET COMPRESSION lz4;
