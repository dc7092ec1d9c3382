# ain-sre example function (perl): reverses the `text` field of a JSON object on stdin.
# Uses core Perl only (JSON::PP ships with Perl 5.14+).
use strict;
use warnings;
use JSON::PP;

local $/;
my $raw = <STDIN> // '';
my $request = eval { JSON::PP->new->utf8->decode($raw eq '' ? '{}' : $raw) };
if (!defined $request) {
    print STDERR "input is not JSON: $@";
    exit 2;
}
my $text = ref $request eq 'HASH' && defined $request->{text} ? $request->{text} : '';
print JSON::PP->new->utf8->canonical->encode({ reversed => scalar reverse($text), runtime => 'perl' });
