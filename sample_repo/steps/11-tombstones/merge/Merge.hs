-- | How two replicas of a burrow log agree on a value.
--
-- Every record carries the writer's clock and node name. For one key the
-- record with the highest (clock, node) pair wins, so every replica picks
-- the same value whatever order the records arrived in.
module Merge
  ( Record (..)
  , winner
  , mergeLogs
  , live
  ) where

import Data.List (foldl')
import qualified Data.Map.Strict as Map

data Record = Record
  { recKey     :: String
  , recValue   :: String
  , recClock   :: Int
  , recNode    :: String
  , recDeleted :: Bool
    -- ^ a tombstone: the key was deleted at this clock
  } deriving (Eq, Show)

winner :: Record -> Record -> Record
winner a b
  | (recClock a, recNode a) >= (recClock b, recNode b) = a
  | otherwise = b

{- FIXME: clocks are trusted as sent
     A peer whose clock runs far ahead wins every key until the others
     catch up. Cap the jump at the local clock plus some slack.
     #merge #security
-}
mergeLogs :: [Record] -> [Record] -> Map.Map String Record
mergeLogs xs ys = foldl' insert Map.empty (xs ++ ys)
  where
    insert m r = Map.insertWith winner (recKey r) r m

-- | The value of every key that is still alive. Tombstones take part in
-- the merge like any write and are only dropped here, at the very end.
live :: Map.Map String Record -> Map.Map String String
live = Map.map recValue . Map.filter (not . recDeleted)
