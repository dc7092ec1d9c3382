#!/usr/bin/perl
# ain-sre function (perl): reads its input on stdin, prints a JSON answer on stdout.
# Whatever it prints on stdout is the call's output; stderr is kept as a short tail for debugging.
use strict;
use warnings;
local $/;
my $input = <STDIN> // "";
my ($name) = $input =~ /"name"\s*:\s*"([^"\\]*)"/;
$name //= "world";
my $function = $ENV{SRE_FUNCTION} // "";
print "{\"greeting\":\"hello, $name\",\"function\":\"$function\"}";
