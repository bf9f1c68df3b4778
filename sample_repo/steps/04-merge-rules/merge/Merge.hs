-- | How two replicas of a burrow log agree on a value.
--
-- Every record carries the writer's clock and node name. For one key the
-- record with the highest (clock, node) pair wins, so every replica picks
-- the same value whatever order the records arrived in.
module Merge
  ( Record (..)
  , winner
  , mergeLogs
  ) where

import Data.List (foldl')
import qualified Data.Map.Strict as Map

data Record = Record
  { recKey   :: String
  , recValue :: String
  , recClock :: Int
  , recNode  :: String
  } deriving (Eq, Show)

-- XXX: there is no way to delete a key
--   writing an empty value is the only option, and a later merge cannot
--   tell that apart from a real empty string

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
