-- Epochs come from one sequence, so that no two claims of an id ever share
-- one. With epoch + 1 per row, an item deleted and created again (or whose
-- cache was) started over at 0, and its first claim got the epoch of the old
-- item's last lease: a late write-back for the old item passed the fence and
-- landed on the new one, releasing the new lease too.
--
-- The sequence starts above every epoch in use. A replica of an older
-- version that is still running during an upgrade goes on counting per row;
-- its epochs stay below the sequence's only for as long as it keeps up, so
-- upgrade replicas together.
CREATE SEQUENCE item_epochs AS bigint;
SELECT setval('item_epochs', greatest((SELECT max(epoch) FROM items), 0) + 1, false);
