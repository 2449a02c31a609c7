-- Keep a small message's content chunk (a 5 KiB mail is one chunk of about 5 KiB ciphertext) and an
-- evidence (about 9 KiB of XML, about half with lz4) inline in their table's pages instead of moving
-- them to the TOAST table, which cost three to five extra heap rows and TOAST index entries per
-- message. STORAGE MAIN still compresses a long value and still moves it out of line when the row
-- cannot fit a page otherwise (large chunks). toast_tuple_target = 8160: a chunk row that fits a page
-- is not even tried for compression (ciphertext does not compress).
-- Rows already stored keep their form; both read the same.
ALTER TABLE content_chunks ALTER COLUMN ciphertext SET STORAGE MAIN;
ALTER TABLE content_chunks SET (toast_tuple_target = 8160);
ALTER TABLE evidence ALTER COLUMN xml SET STORAGE MAIN;
